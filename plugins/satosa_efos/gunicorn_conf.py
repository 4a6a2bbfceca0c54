"""gunicorn settings for ``satosa-efos serve``: JSON logs, no query strings in the access log.

Access lines carry the path without its query string (a SAMLRequest or a login hint is nobody's
business in a log). Worker settings come from the command line. The hooks give the workers one
metrics folder per instance (:mod:`satosa_efos.metrics_dir`).
"""

from satosa_efos import metrics_dir
from satosa_efos.logging_json import logging_config

_config = logging_config()
_config["loggers"].update(
    {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    }
)
logconfig_dict = _config
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
accesslog = "-"
worker_class = "sync"
timeout = 30
graceful_timeout = 20


def on_starting(server):
    metrics_dir.prepare()


def child_exit(server, worker):
    metrics_dir.worker_exited(worker.pid)


def on_exit(server):
    metrics_dir.remove()
