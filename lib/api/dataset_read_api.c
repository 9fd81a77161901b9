/* Exported dataset readers: argument checks and error publishing around the
 * readers of lib/io. */
#include "io/dataset.h"
#include "io/dataset_readers.h"
#include "io/standardize.h"

typedef mird_status (*split_reader)(const char *path, mird_split split, const char *options,
                                    mird_dataset **out, mird_error *err);

/* standardize=train: z-scores from the same source's training split (read
 * again unless it is the split asked for), applied before *out is set. */
static mird_status read_split(split_reader read, const char *path, mird_split split,
                              const char *options, mird_dataset **out, mird_error *err)
{
    mird_dataset *ds = NULL, *train = NULL;
    MIRD_TRY(read(path, split, options, &ds, err));
    if (!ds->options.standardize_train) {
        *out = ds;
        return MIRD_OK;
    }
    mird_feature_stats stats;
    mird_status st = split == MIRD_SPLIT_TRAIN ? MIRD_OK
                                               : read(path, MIRD_SPLIT_TRAIN, options, &train, err);
    if (st == MIRD_OK)
        st = mird_feature_stats_compute(train ? train : ds, &stats, err);
    mird_dataset_free(train);
    if (st == MIRD_OK) {
        st = mird_feature_stats_apply(&stats, ds, err);
        mird_feature_stats_release(&stats);
    }
    if (st != MIRD_OK) {
        mird_dataset_free(ds);
        return st;
    }
    *out = ds;
    return MIRD_OK;
}

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
    return published(read_split(mird_read_mmsa, path, split, options, out, &err), &err);
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
    return published(read_split(mird_read_mfn, directory, split, options, out, &err), &err);
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
    mird_status st = mird_read_csd(labels_path, text_path, audio_path, vision_path, options, out,
                                   &err);
    if (st == MIRD_OK && (*out)->options.standardize_train) {
        mird_dataset_free(*out);
        *out = NULL;
        st = mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT, "standardize=train is not available for "
                       ".csd sources (read the training split and standardise in the caller)");
    }
    return published(st, &err);
}
