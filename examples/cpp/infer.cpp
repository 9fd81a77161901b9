// infer: inference with libmird from C++17.  Loads a checkpoint (or, with
// no argument, makes a small untrained model), fills a batch from
// std::vector data and prints every sample's prediction and codes.  Handles
// live in std::unique_ptr with libmird's destroy functions as deleters, and
// a failing call throws with libmird's explanation.
//
// Build against an installed libmird (prefix /opt/mird here) with CMake:
//
//   cmake_minimum_required(VERSION 3.18)
//   project(infer CXX)
//   find_package(mird CONFIG REQUIRED)
//   add_executable(infer infer.cpp)
//   target_compile_features(infer PRIVATE cxx_std_17)
//   target_link_libraries(infer PRIVATE mird::mird)
//
//   cmake -S . -B build -DCMAKE_PREFIX_PATH=/opt/mird && cmake --build build
//   LD_LIBRARY_PATH=/opt/mird/lib build/infer model.safetensors
//
// or: c++ -std=c++17 infer.cpp -o infer $(pkg-config --cflags --libs mird)
// A checkpoint to try comes from examples/c/train_and_predict.c or
// `mird train --output model.safetensors`.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <mird/mird.h>

namespace {

// One deleter type per destroy function: unique_ptr<mird_model, Destroy<...>>
// frees the handle however the scope is left, exceptions included.
template <auto destroy>
struct Destroy {
    template <typename T>
    void operator()(T *handle) const { destroy(handle); }
};
using Config = std::unique_ptr<mird_config, Destroy<mird_config_destroy>>;
using Model = std::unique_ptr<mird_model, Destroy<mird_model_destroy>>;
using Batch = std::unique_ptr<mird_batch, Destroy<mird_batch_destroy>>;

void check(mird_status status, const char *what)
{
    if (status != MIRD_OK)
        throw std::runtime_error(std::string(what) + ": " + mird_status_string(status) + " ("
                                 + mird_last_error_message() + ")");
}

Model load_or_create(const char *checkpoint)
{
    mird_model *raw = nullptr;
    if (checkpoint) {
        check(mird_model_load(checkpoint, &raw), "mird_model_load");
        return Model(raw);
    }
    mird_config *raw_cfg = nullptr;
    check(mird_config_create(&raw_cfg), "mird_config_create");
    Config cfg(raw_cfg);
    check(mird_config_preset(cfg.get(), "tiny"), "mird_config_preset");
    check(mird_model_create(cfg.get(), &raw), "mird_model_create");
    return Model(raw);
}

int64_t setting(const Config &cfg, mird_param param)
{
    return mird_config_get_int(cfg.get(), param);
}

// One modality's padded frames [samples, frames, width] and lengths: sample i
// has frames - i valid frames (at least one) of smooth made-up values, then
// zeros, as a real feature extractor's output would be padded.
struct Sequence {
    std::vector<float> values;
    std::vector<int32_t> lengths;
};

Sequence make_sequence(int samples, int64_t frames, int64_t width, float phase)
{
    Sequence s{std::vector<float>(static_cast<size_t>(samples * frames * width), 0.0f), {}};
    for (int i = 0; i < samples; i++) {
        int64_t length = frames > i ? frames - i : 1;
        s.lengths.push_back(static_cast<int32_t>(length));
        for (int64_t t = 0; t < length; t++)
            for (int64_t d = 0; d < width; d++)
                s.values[static_cast<size_t>((i * frames + t) * width + d)] =
                    std::sin(phase + 0.3f * static_cast<float>(t) + 0.7f * static_cast<float>(d)
                             + static_cast<float>(i));
    }
    return s;
}

int run(const char *checkpoint)
{
    Model model = load_or_create(checkpoint);
    mird_config *raw_cfg = nullptr;
    check(mird_model_get_config(model.get(), &raw_cfg), "mird_model_get_config");
    Config cfg(raw_cfg);
    std::printf("%s: %lld parameters\n", checkpoint ? checkpoint : "untrained tiny model",
                static_cast<long long>(mird_model_parameter_count(model.get())));

    const int samples = 3;
    const int64_t text_length = setting(cfg, MIRD_PARAM_TEXT_LENGTH);
    const int64_t latent = setting(cfg, MIRD_PARAM_LATENT_DIM);

    // The arrays are declared before the batch, so they outlive it: the
    // batch borrows them (MIRD_BORROW) instead of copying.
    Sequence text = make_sequence(samples, text_length, setting(cfg, MIRD_PARAM_TEXT_DIM), 0.0f);
    Sequence audio = make_sequence(samples, setting(cfg, MIRD_PARAM_AUDIO_LENGTH),
                                   setting(cfg, MIRD_PARAM_AUDIO_DIM), 1.0f);
    Sequence vision = make_sequence(samples, setting(cfg, MIRD_PARAM_VISION_LENGTH),
                                    setting(cfg, MIRD_PARAM_VISION_DIM), 2.0f);
    std::vector<int32_t> tokens(static_cast<size_t>(samples * text_length));
    const int64_t vocabulary = setting(cfg, MIRD_PARAM_VOCAB_SIZE);
    for (size_t k = 0; k < tokens.size(); k++)
        tokens[k] = static_cast<int32_t>((7 * k + 1) % static_cast<size_t>(vocabulary));

    mird_batch *raw_batch = nullptr;
    check(mird_batch_create(cfg.get(), samples, &raw_batch), "mird_batch_create");
    Batch batch(raw_batch);
    if (setting(cfg, MIRD_PARAM_TEXT_MODE) == MIRD_TEXT_TOKENS)
        check(mird_batch_set_tokens(batch.get(), tokens.data(), text.lengths.data(), MIRD_BORROW),
              "mird_batch_set_tokens");
    else
        check(mird_batch_set_text(batch.get(), text.values.data(), text.lengths.data(),
                                  MIRD_BORROW), "mird_batch_set_text");
    check(mird_batch_set_audio(batch.get(), audio.values.data(), audio.lengths.data(),
                               MIRD_BORROW), "mird_batch_set_audio");
    check(mird_batch_set_vision(batch.get(), vision.values.data(), vision.lengths.data(),
                                MIRD_BORROW), "mird_batch_set_vision");

    std::vector<float> predictions(samples);
    std::vector<float> codes(static_cast<size_t>(samples * 4 * latent));
    check(mird_infer(model.get(), batch.get(), predictions.data(), codes.data()), "mird_infer");

    static const char *const code_names[4] = {"z^S", "z^L", "z^A", "z^V"};
    for (int i = 0; i < samples; i++) {
        if (!std::isfinite(predictions[static_cast<size_t>(i)]))
            throw std::runtime_error("sample " + std::to_string(i) + ": prediction is not finite");
        std::printf("sample %d: prediction %+.4f\n", i, predictions[static_cast<size_t>(i)]);
        for (int c = 0; c < 4; c++) {
            const float *code = &codes[static_cast<size_t>((i * 4 + c) * latent)];
            std::printf("  %s", code_names[c]);
            for (int64_t k = 0; k < latent && k < 6; k++)
                std::printf(" %+.3f", code[k]);
            std::printf("%s\n", latent > 6 ? " ..." : "");
        }
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc > 2) {
        std::fprintf(stderr, "usage: %s [checkpoint.safetensors]\n", argv[0]);
        return 2;
    }
    try {
        return run(argc == 2 ? argv[1] : nullptr);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "infer: %s\n", e.what());
        return 1;
    }
}
