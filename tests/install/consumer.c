/* Links the installed libmird and checks that header and library agree. */
#include <stdio.h>
#include <string.h>

#include <mird/mird.h>

int main(void)
{
    if (mird_version_number() != MIRD_VERSION_NUMBER) {
        fprintf(stderr, "header %d, library %u\n", MIRD_VERSION_NUMBER, mird_version_number());
        return 1;
    }
    if (mird_set_num_threads(-1) != MIRD_ERR_INVALID_ARGUMENT
        || strstr(mird_last_error_message(), "num_threads") == NULL) {
        fprintf(stderr, "error reporting does not work through the installed library\n");
        return 1;
    }
    printf("consumer: libmird %s\n", mird_version_string());
    return 0;
}
