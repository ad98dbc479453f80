// PM2 deployment on one host: `pm2 start ecosystem.config.js` after `make install` and `python -m mass_mailer migrate`.
// Configuration comes from the environment or the .env file in this folder (read by the app itself);
// DATABASE_URL, REDIS_URL, SECRET_KEY, TOKEN_ENCRYPTION_KEYS and the Google client are required.
// WORKER_INSTANCES (default 1) runs that many `worker` commands, each with WORKER_PROCESSES x WORKER_THREADS.
const path = require("path");

const python = path.join(__dirname, ".venv", "bin", "python");
const common = {
  cwd: __dirname,
  script: python,
  interpreter: "none",
  autorestart: true,
  kill_timeout: 20000,
  max_restarts: 20,
  restart_delay: 2000,
  exp_backoff_restart_delay: 500,
  log_date_format: "YYYY-MM-DD HH:mm:ss Z",
  env: { PYTHONUNBUFFERED: "1", LOG_FORMAT: "json" },
};

module.exports = {
  apps: [
    { ...common, name: "mass-mailer-web", args: ["-m", "mass_mailer", "web"] },
    {
      ...common,
      name: "mass-mailer-worker",
      args: ["-m", "mass_mailer", "worker"],
      instances: Number(process.env.WORKER_INSTANCES || 1),
      max_memory_restart: "400M",
      // PM2 signals the whole process tree; each worker process stops gracefully on its first SIGTERM and ignores
      // the repeats, so the send in progress settles and the rest is handed over. SIGKILL after kill_timeout.
      kill_timeout: 40000,
    },
    { ...common, name: "mass-mailer-scheduler", args: ["-m", "mass_mailer", "scheduler"] },
  ],
};
