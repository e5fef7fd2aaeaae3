/* threads.c: several threads, each with its own session on one shared model. Every thread's greedy
 * output must be identical to a serial run of the same prompt; the program exits 1 otherwise.
 *   cc -std=c11 -pthread threads.c $(pkg-config --cflags --libs mii) -o threads
 *   ./threads [--model PATH] [--threads-per-session N] [N_THREADS] */
#define _POSIX_C_SOURCE 200809L
#include <mii.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 16
static const char *prompts[] = {
    "The capital of France is",
    "def add(a, b):",
    "Once upon a time",
    "The three primary colors are",
};
#define N_PROMPTS (sizeof prompts / sizeof prompts[0])

typedef struct {
    mii_model *model;
    const char *prompt;
    int session_threads;
    char text[4096];
    mii_status status;
    char error[512];
} job;

static void run_job(job *j) {
    mii_session_params sp;
    mii_session_default_params(&sp);
    sp.n_ctx = 256;
    sp.n_threads = j->session_threads;
    mii_session *s = NULL;
    j->status = mii_session_create(j->model, &sp, &s);
    if (j->status == MII_OK) {
        mii_generate_params gp;
        mii_generate_default_params(&gp);
        gp.max_new_tokens = 24;
        gp.ignore_eos = 1;
        mii_generate_result r = { .size = sizeof r };
        j->status = mii_generate(s, j->prompt, &gp, &r);
        if (j->status == MII_OK) snprintf(j->text, sizeof j->text, "%s", r.text);
    }
    if (j->status != MII_OK) snprintf(j->error, sizeof j->error, "%s", mii_last_error());
    mii_session_free(s);
}

static void *thread_main(void *arg) {
    run_job(arg);
    return NULL;
}

int main(int argc, char **argv) {
    const char *model_path = NULL;
    int n_workers = 4, session_threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_path = argv[++i];
        else if (strcmp(argv[i], "--threads-per-session") == 0 && i + 1 < argc) session_threads = atoi(argv[++i]);
        else n_workers = atoi(argv[i]);
    }
    if (n_workers < 1 || n_workers > MAX_WORKERS) {
        fprintf(stderr, "N_THREADS must be 1..%d\n", MAX_WORKERS);
        return 2;
    }
    char path[4096];
    size_t needed;
    if (!model_path) {
        if (mii_default_model_path(path, sizeof path, &needed) != MII_OK) {
            fprintf(stderr, "no default model: %s\n", mii_last_error());
            return 1;
        }
        model_path = path;
    }
    mii_model *model = NULL;
    if (mii_model_load(model_path, NULL, &model) != MII_OK) {
        fprintf(stderr, "load failed: %s\n", mii_last_error());
        return 1;
    }

    static job serial[MAX_WORKERS], parallel[MAX_WORKERS];
    for (int i = 0; i < n_workers; i++) {
        serial[i] = (job){ .model = model, .prompt = prompts[i % N_PROMPTS], .session_threads = session_threads };
        parallel[i] = serial[i];
        run_job(&serial[i]);
    }
    pthread_t tids[MAX_WORKERS];
    for (int i = 0; i < n_workers; i++) pthread_create(&tids[i], NULL, thread_main, &parallel[i]);
    for (int i = 0; i < n_workers; i++) pthread_join(tids[i], NULL);

    int bad = 0;
    for (int i = 0; i < n_workers; i++) {
        if (serial[i].status != MII_OK || parallel[i].status != MII_OK) {
            fprintf(stderr, "job %d failed: %s%s\n", i, serial[i].error, parallel[i].error);
            bad = 1;
        } else if (strcmp(serial[i].text, parallel[i].text) != 0) {
            fprintf(stderr, "job %d differs:\n  serial:   %s\n  parallel: %s\n", i, serial[i].text, parallel[i].text);
            bad = 1;
        } else {
            printf("thread %d: %s%s\n", i, parallel[i].prompt, parallel[i].text);
        }
    }
    mii_model_free(model);
    if (bad) printf("MISMATCH\n");
    else printf("all %d threads match the serial run\n", n_workers);
    return bad;
}
