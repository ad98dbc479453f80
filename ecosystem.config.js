// PM2 deployment on one host: `pm2 start ecosystem.config.js` after `make install` and `python -m mass_mailer migrate`.
// Configuration comes from the environment or the .env file in this folder (read by the app itself);
// DATABASE_URL, REDIS_URL, SECRET_KEY, TOKEN_ENCRYPTION_KEYS and the Google client are required.
const path = require("path");

const python = path.join(__dirname, ".venv", "bin", "python");
const common = {
  cwd: __dirname,
  script: python,
  interpreter: "none",
  autorestart: true,
  kill_timeout: 20000, // lets in-flight sends settle before a restart
  max_restarts: 20,
  restart_delay: 2000,
  env: { PYTHONUNBUFFERED: "1", LOG_FORMAT: "json" },
};

module.exports = {
  apps: [
    { ...common, name: "mass-mailer-web", args: ["-m", "mass_mailer", "web"] },
    { ...common, name: "mass-mailer-worker", args: ["-m", "mass_mailer", "worker"], max_memory_restart: "400M" },
    { ...common, name: "mass-mailer-scheduler", args: ["-m", "mass_mailer", "scheduler"] },
  ],
};
