"""A local stand-in for Google Cloud Logging: the v2 REST API on 127.0.0.1, stored in DuckDB.

    import cloudlog
    svc = cloudlog.start_local("runs/logs.duckdb")          # background thread
    logging_client = cloudlog.client(svc.endpoint, "my-project")   # the real client
    logging_client.logger("my-flask-log").log_text("hello")
    svc.stop()

See docs/cloudlog.md for what is supported and how the same code talks to Google Cloud.
"""

from cloudlog.model import ApiError
from cloudlog.server import LocalService, start_local

__all__ = ["ApiError", "LocalService", "client", "start_local"]


def client(endpoint: str, project: str):
    """The real ``google.cloud.logging.Client``, pointed at ``endpoint`` with no credentials.

    Against Google Cloud you would write ``google.cloud.logging.Client(project=project)``
    instead (credentials from the environment, the default endpoint); nothing else changes.

    One default differs: a logger made without a ``resource`` writes its entries as the
    ``global`` monitored resource. The library would otherwise ask Google's metadata server
    which machine it runs on (two HTTP requests for every ``client.logger(...)``, each up to
    5 s where no such server answers and the DNS lookup times out, as on a machine offline).
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import logging as gcl
    from google.cloud.logging import Resource

    class LocalClient(gcl.Client):
        def logger(self, name, *, labels=None, resource=None):
            resource = resource or Resource(type="global", labels={"project_id": self.project})
            return super().logger(name, labels=labels, resource=resource)

    return LocalClient(
        project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}, _use_grpc=False
    )
