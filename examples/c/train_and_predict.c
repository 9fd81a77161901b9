/*
 * train_and_predict: the whole life of a MIRD model through libmird's C API.
 * It trains a small model on seeded synthetic data, saves a checkpoint,
 * loads it back, and checks that the loaded model predicts exactly what the
 * trained one does.
 *
 * Build against an installed libmird (prefix /opt/mird here):
 *
 *   export PKG_CONFIG_PATH=/opt/mird/lib/pkgconfig     # if not a system prefix
 *   cc -std=c11 -O2 train_and_predict.c -o train_and_predict $(pkg-config --cflags --libs mird)
 *   LD_LIBRARY_PATH=/opt/mird/lib ./train_and_predict model.safetensors
 *
 * The checkpoint argument is optional (default: mird_example.safetensors in
 * the current directory); examples/cpp/infer.cpp runs inference from it.
 * The exit status is 0 only if every step worked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mird/mird.h>

enum { TRAIN_SIZE = 200, EVAL_SIZE = 64, INFER_SIZE = 16 };

/* Reports a failed call with libmird's own explanation; returns 1 on failure. */
static int failed(mird_status status, const char *what)
{
    if (status == MIRD_OK)
        return 0;
    fprintf(stderr, "train_and_predict: %s failed: %s (%s)\n", what, mird_status_string(status),
            mird_last_error_message());
    return 1;
}

/* mird_fit calls this after every step and every epoch; returning nonzero
 * would stop the run (mird_fit then returns MIRD_ERR_CANCELLED). */
static int on_progress(const mird_progress *p, void *user_data)
{
    int64_t *steps_seen = user_data;
    if (mird_progress_event(p) == MIRD_EVENT_STEP) {
        (*steps_seen)++;
        return 0;
    }
    printf("epoch %lld: step %lld of %lld, training loss %.4f, validation MAE %.4f%s\n",
           (long long)mird_progress_epoch(p), (long long)mird_progress_step(p),
           (long long)mird_progress_total_steps(p), mird_progress_term(p, MIRD_TERM_TOTAL),
           mird_progress_metric(p, MIRD_METRIC_MAE), mird_progress_improved(p) ? " (best)" : "");
    return 0;
}

/* The "tiny" preset's shapes and model, trained for 3 epochs: seconds, not
 * minutes.  "demo" is the preset `mird train` uses for a real run. */
static int make_config(mird_config **out)
{
    if (failed(mird_config_create(out), "mird_config_create"))
        return 1;
    return failed(mird_config_preset(*out, "tiny"), "preset")
           || failed(mird_config_set(*out, "epochs", "3"), "epochs")
           || failed(mird_config_set(*out, "batch_size", "32"), "batch_size")
           || failed(mird_config_set_int(*out, MIRD_PARAM_SEED, 7), "seed");
}

/* Predictions of both models on the first samples of `ds`, codes included,
 * compared bit for bit. */
static int same_inference(mird_model *a, mird_model *b, const mird_config *cfg,
                          const mird_dataset *ds)
{
    size_t latent = (size_t)mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM);
    size_t code_bytes = (size_t)INFER_SIZE * 4 * latent * sizeof(float);
    float pred_a[INFER_SIZE], pred_b[INFER_SIZE];
    float *codes_a = malloc(code_bytes), *codes_b = malloc(code_bytes);
    mird_batch *batch = NULL;
    int status = !codes_a || !codes_b;
    if (status)
        fprintf(stderr, "train_and_predict: out of memory\n");
    status = status || failed(mird_batch_create(cfg, INFER_SIZE, &batch), "mird_batch_create")
             || failed(mird_dataset_fill_batch(ds, 0, INFER_SIZE, batch), "fill_batch")
             || failed(mird_infer(a, batch, pred_a, codes_a), "mird_infer (trained model)")
             || failed(mird_infer(b, batch, pred_b, codes_b), "mird_infer (loaded model)");
    if (!status && (memcmp(pred_a, pred_b, sizeof pred_a) != 0
                    || memcmp(codes_a, codes_b, code_bytes) != 0)) {
        fprintf(stderr, "train_and_predict: mird_infer differs between the trained and the "
                        "loaded model\n");
        status = 1;
    }
    if (!status) {
        printf("mird_infer, first samples (prediction, first value of z^S z^L z^A z^V):\n");
        for (int i = 0; i < 4; i++)
            printf("  %+.4f  %+.4f %+.4f %+.4f %+.4f\n", pred_a[i], codes_a[(i * 4 + 0) * latent],
                   codes_a[(i * 4 + 1) * latent], codes_a[(i * 4 + 2) * latent],
                   codes_a[(i * 4 + 3) * latent]);
    }
    mird_batch_destroy(batch);
    free(codes_a);
    free(codes_b);
    return status;
}

static int run(const char *checkpoint)
{
    mird_config *cfg = NULL;
    mird_dataset *train = NULL, *valid = NULL, *test = NULL;
    mird_model *model = NULL, *loaded = NULL;
    mird_optimizer *opt = NULL;
    mird_report *report = NULL;
    int64_t steps_seen = 0;
    double metrics[MIRD_METRIC_COUNT], loaded_metrics[MIRD_METRIC_COUNT];
    float predictions[EVAL_SIZE], loaded_predictions[EVAL_SIZE];

    /* Data: one seed, three independent streams of samples. */
    const uint64_t seed = 1;
    int status =
        make_config(&cfg)
        || failed(mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, TRAIN_SIZE, seed, NULL, &train),
                  "training data")
        || failed(mird_dataset_synthetic(cfg, MIRD_SPLIT_VALID, EVAL_SIZE, seed, NULL, &valid),
                  "validation data")
        || failed(mird_dataset_synthetic(cfg, MIRD_SPLIT_TEST, EVAL_SIZE, seed, NULL, &test),
                  "test data");

    /* Training: the model ends up with its best epoch's parameters. */
    status = status || failed(mird_model_create(cfg, &model), "mird_model_create")
             || failed(mird_optimizer_create(model, &opt), "mird_optimizer_create")
             || failed(mird_fit(model, opt, train, NULL, valid, on_progress, &steps_seen, &report),
                       "mird_fit");
    if (!status) {
        printf("trained %lld parameters for %lld epochs (%lld steps); best epoch %lld\n",
               (long long)mird_model_parameter_count(model), (long long)mird_report_epochs(report),
               (long long)steps_seen, (long long)mird_report_best_epoch(report));
    }

    /* Test metrics, then the checkpoint (with the optimizer state, so that
     * training could resume from it) and the model loaded back from it. */
    status = status || failed(mird_evaluate(model, test, metrics, MIRD_METRIC_COUNT, predictions),
                              "mird_evaluate (trained model)")
             || failed(mird_model_save(model, opt, checkpoint), "mird_model_save")
             || failed(mird_model_load(checkpoint, &loaded), "mird_model_load")
             || failed(mird_evaluate(loaded, test, loaded_metrics, MIRD_METRIC_COUNT,
                                     loaded_predictions), "mird_evaluate (loaded model)");
    if (!status) {
        printf("test metrics:");
        for (int m = 0; m < MIRD_METRIC_COUNT; m++)
            printf(" %s %.4f", mird_metric_name((mird_metric)m), metrics[m]);
        printf("\nsaved %s\n", checkpoint);
        if (memcmp(predictions, loaded_predictions, sizeof predictions) != 0) {
            fprintf(stderr, "train_and_predict: mird_evaluate differs between the trained and the "
                            "loaded model\n");
            status = 1;
        }
    }
    status = status || same_inference(model, loaded, cfg, test);
    if (!status)
        printf("the loaded model predicts bit for bit what the trained one does\n");

    mird_report_destroy(report);
    mird_model_destroy(loaded);
    mird_optimizer_destroy(opt); /* an optimizer goes before its model */
    mird_model_destroy(model);
    mird_dataset_destroy(test);
    mird_dataset_destroy(valid);
    mird_dataset_destroy(train);
    mird_config_destroy(cfg);
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))) {
        fprintf(argc > 2 ? stderr : stdout, "usage: %s [checkpoint.safetensors]\n", argv[0]);
        return argc > 2 ? 2 : 0;
    }
    printf("libmird %s\n", mird_version_string());
    return run(argc == 2 ? argv[1] : "mird_example.safetensors") ? EXIT_FAILURE : EXIT_SUCCESS;
}
