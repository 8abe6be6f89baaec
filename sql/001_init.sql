-- Video Factory schema. Applied once by `vfctl migrate`, recorded in schema_migrations.
-- InnoDB, utf8mb4, DATETIME(3) in UTC.

CREATE TABLE users (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username      VARCHAR(64)  NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  role          ENUM('user','admin') NOT NULL DEFAULT 'user',
  created_at    DATETIME(3)  NOT NULL DEFAULT UTC_TIMESTAMP(3),
  UNIQUE KEY uq_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Session ids and API tokens are random 256-bit values; only their SHA-256 is stored.
CREATE TABLE sessions (
  id_hash     CHAR(64)        NOT NULL PRIMARY KEY,
  user_id     BIGINT UNSIGNED NOT NULL,
  created_at  DATETIME(3)     NOT NULL DEFAULT UTC_TIMESTAMP(3),
  expires_at  DATETIME(3)     NOT NULL,
  KEY idx_sessions_user (user_id),
  KEY idx_sessions_expiry (expires_at),
  CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

CREATE TABLE api_tokens (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  token_hash   CHAR(64)        NOT NULL,
  user_id      BIGINT UNSIGNED NOT NULL,
  name         VARCHAR(64)     NOT NULL DEFAULT '',
  created_at   DATETIME(3)     NOT NULL DEFAULT UTC_TIMESTAMP(3),
  revoked_at   DATETIME(3)     NULL,
  UNIQUE KEY uq_api_tokens_hash (token_hash),
  CONSTRAINT fk_api_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE jobs (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  owner_id         BIGINT UNSIGNED NOT NULL,
  mode             ENUM('full','semi') NOT NULL,
  state            ENUM('IDLE','GENERATING_SCRIPT','SCRIPT_READY','ASSEMBLING_VIDEO','VIDEO_READY',
                        'FINALIZING','COMPLETED','FAILED','CANCELLED') NOT NULL DEFAULT 'IDLE',
  topic            VARCHAR(800)  NOT NULL,
  options          JSON          NOT NULL,
  script           JSON          NULL,
  usage_json       JSON          NULL,
  -- video metadata, set by the render step
  video_key        VARCHAR(255)  NULL,
  video_duration_s DOUBLE        NULL,
  video_size_bytes BIGINT        NULL,
  video_width      INT           NULL,
  video_height     INT           NULL,
  video_sha256     CHAR(64)      NULL,
  render_seconds   DOUBLE        NULL,
  error_step       ENUM('script','render','finalize') NULL,
  error_message    VARCHAR(1000) NULL,
  progress_step    ENUM('script','render','finalize') NULL,
  progress_percent TINYINT UNSIGNED NOT NULL DEFAULT 0,
  progress_message VARCHAR(255)  NULL,
  -- the queue: what a worker should run next (NULL: nothing), when, and who holds it
  next_step        ENUM('script','render','finalize') NULL,
  run_after        DATETIME(3)   NOT NULL DEFAULT UTC_TIMESTAMP(3),
  attempts         INT UNSIGNED  NOT NULL DEFAULT 0,
  lease_owner      VARCHAR(96)   NULL,
  lease_until      DATETIME(3)   NULL,
  cancel_requested TINYINT(1)    NOT NULL DEFAULT 0,
  deleted          TINYINT(1)    NOT NULL DEFAULT 0,
  created_at       DATETIME(3)   NOT NULL DEFAULT UTC_TIMESTAMP(3),
  updated_at       DATETIME(3)   NOT NULL DEFAULT UTC_TIMESTAMP(3),
  -- A job a worker may claim: work to do and nobody holding it. The claim
  -- query is `WHERE runnable = 1 ORDER BY id ... FOR UPDATE SKIP LOCKED`; the
  -- index (runnable, id) covers that ORDER BY, so a claim locks one row and
  -- not every queued one.
  runnable         TINYINT(1) AS (next_step IS NOT NULL AND lease_owner IS NULL) STORED,
  KEY idx_jobs_claim (runnable, id),
  KEY idx_jobs_lease (lease_until),
  KEY idx_jobs_owner (owner_id, deleted, id),
  KEY idx_jobs_state (state, id),
  CONSTRAINT fk_jobs_owner FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every state change, progress report and log line of a job. The id is the
-- event stream's `id:`, so a reconnecting client gets exactly what it missed.
CREATE TABLE job_events (
  id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id    BIGINT UNSIGNED NOT NULL,
  owner_id  BIGINT UNSIGNED NOT NULL,
  at        DATETIME(3)     NOT NULL DEFAULT UTC_TIMESTAMP(3),
  type      ENUM('state','progress','log') NOT NULL,
  state     VARCHAR(24)     NULL,
  step      ENUM('script','render','finalize') NULL,
  percent   TINYINT UNSIGNED NULL,
  level     ENUM('debug','info','warn','error') NULL,
  message   VARCHAR(1000)   NULL,
  KEY idx_events_job (job_id, id),
  KEY idx_events_owner (owner_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Workers announce themselves here so /api/health can say who was seen lately.
CREATE TABLE workers (
  name       VARCHAR(96) NOT NULL PRIMARY KEY,
  started_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
  seen_at    DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
