/* The dataset file readers behind mird_dataset_read_hdf5, _mfn and _csd
 * (mird.h, "Datasets").  Each parses its options, reads with HDF5's error
 * printing switched off, builds a new dataset through mird_dataset_new and
 * mird_dataset_finish, and hands it over through *out only when it is
 * complete: a failure leaves *out NULL and nothing allocated. */
#ifndef MIRD_IO_DATASET_READERS_H
#define MIRD_IO_DATASET_READERS_H

#include <mird/mird.h>

#include "core/error.h"

/* The split's folder or file-name part: "train", "valid", "test". */
static inline const char *mird_split_text(mird_split split)
{
    static const char *const names[] = {"train", "valid", "test"};
    return (int)split >= 0 && split <= MIRD_SPLIT_TEST ? names[split] : NULL;
}

mird_status mird_read_mmsa(const char *path, mird_split split, const char *options,
                           mird_dataset **out, mird_error *err);
mird_status mird_read_mfn(const char *directory, mird_split split, const char *options,
                          mird_dataset **out, mird_error *err);
/* Any of the feature paths may be NULL. */
mird_status mird_read_csd(const char *labels_path, const char *text_path, const char *audio_path,
                          const char *vision_path, const char *options, mird_dataset **out,
                          mird_error *err);

#endif
