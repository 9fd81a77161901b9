/* mird: train, evaluate and run MIRD models from the command line. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mird <command> [options]\n"
            "\n"
            "commands:\n"
            "  train     train a model (with no options: the synthetic demo)\n"
            "  eval      metrics of a checkpoint on a dataset split\n"
            "  predict   predictions of a checkpoint, as CSV\n"
            "  info      what a checkpoint holds\n"
            "  version   the library version\n"
            "\n"
            "`mird <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *command = argv[1];
    if (strcmp(command, "train") == 0)
        return cli_train(argc - 1, argv + 1);
    if (strcmp(command, "eval") == 0)
        return cli_eval(argc - 1, argv + 1);
    if (strcmp(command, "predict") == 0)
        return cli_predict(argc - 1, argv + 1);
    if (strcmp(command, "info") == 0)
        return cli_info(argc - 1, argv + 1);
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("mird %s\n", mird_version_string());
        return 0;
    }
    if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mird: unknown command \"%s\"\n", command);
    usage(stderr);
    return 2;
}
