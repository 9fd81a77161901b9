/* Exported dataset readers: argument checks and error publishing around the
 * readers of lib/io. */
#include "io/dataset_readers.h"

static mird_status published(mird_status status, const mird_error *err)
{
    if (status != MIRD_OK)
        mird_error_publish(err);
    return status;
}

mird_status mird_dataset_read_hdf5(const char *path, mird_split split, const char *options,
                                   mird_dataset **out)
{
    if (!path || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_read_hdf5: %s is NULL",
                                path ? "out" : "path");
    *out = NULL;
    mird_error err;
    mird_error_clear(&err);
    return published(mird_read_mmsa(path, split, options, out, &err), &err);
}

mird_status mird_dataset_read_mfn(const char *directory, mird_split split, const char *options,
                                  mird_dataset **out)
{
    if (!directory || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_read_mfn: %s is NULL",
                                directory ? "out" : "directory");
    *out = NULL;
    mird_error err;
    mird_error_clear(&err);
    return published(mird_read_mfn(directory, split, options, out, &err), &err);
}

mird_status mird_dataset_read_csd(const char *labels_path, const char *text_path,
                                  const char *audio_path, const char *vision_path,
                                  const char *options, mird_dataset **out)
{
    if (!labels_path || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_read_csd: %s is NULL",
                                labels_path ? "out" : "labels_path");
    *out = NULL;
    mird_error err;
    mird_error_clear(&err);
    return published(mird_read_csd(labels_path, text_path, audio_path, vision_path, options, out,
                                   &err),
                     &err);
}
