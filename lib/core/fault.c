#include "core/fault.h"

int mird_fault_countdown;
