/* leak_canary.c: a model loaded and never freed. scripts/test_asan.sh runs it to check that
 * LeakSanitizer sees a leak of libmii-owned memory: it must exit non-zero with a leak report. */
#include <mii.h>
#include <stdio.h>
int main(int argc, char **argv) {
    mii_model *m = NULL;
    if (argc < 2 || mii_model_load(argv[1], NULL, &m) != MII_OK) return 2;
    m = NULL; /* planted leak: the model is never freed */
    return 0;
}
