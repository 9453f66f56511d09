"""The real, unmodified `mlflow` 3.x client managing registry webhooks on a `sluice server --auth`
(started with MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true, as
MLflow's own webhook tests start theirs), and a receiver in this process that checks what
arrives: each registry event's payload as MLflow defines it, MLflow's headers, and the
HMAC-SHA256 signature made with the webhook's secret.

Environment: MLFLOW_TRACKING_URI, and the tokens SLUICE_TEST_CONTRIBUTOR and SLUICE_TEST_OWNER.
Prints one line per check, "FAIL ..." and exit 1 on the first failure.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
import time

from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent, WebhookStatus

from flowcheck import act_as, check, expect_error, passed

SECRET = "receiver-secret"
CONTRIBUTOR = os.environ["SLUICE_TEST_CONTRIBUTOR"]
OWNER = os.environ["SLUICE_TEST_OWNER"]

RECEIVED = []
LOCK = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records every POST; `/flaky` answers 503 to the first try of each delivery."""

    tries = {}

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        delivery = self.headers.get("X-MLflow-Delivery-Id")
        if self.path == "/moved":
            self.send_response(307)
            self.send_header("Location", "/signed")
            self.end_headers()
            return
        if self.path == "/flaky":
            Receiver.tries[delivery] = Receiver.tries.get(delivery, 0) + 1
            if Receiver.tries[delivery] == 1:
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.end_headers()
                return
        with LOCK:
            RECEIVED.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"received")

    def log_message(self, *args):
        pass


def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def wait_for(path, count, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with LOCK:
            got = [r for r in RECEIVED if r["path"] == path]
        if len(got) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{len(got)} deliveries to {path} after {timeout} s, expected {count}: {RECEIVED}")


def verified(delivery, secret):
    """The delivery's body, after checking MLflow's headers and signature."""
    h = {k.lower(): v for k, v in delivery["headers"].items()}
    assert h["content-type"] == "application/json", h
    delivery_id, timestamp = h["x-mlflow-delivery-id"], h["x-mlflow-timestamp"]
    assert len(delivery_id) == 36 and delivery_id.count("-") == 4, delivery_id
    assert abs(int(timestamp) - time.time()) < 300, timestamp
    if secret is None:
        assert "x-mlflow-signature" not in h, h
    else:
        version, signature = h["x-mlflow-signature"].split(",", 1)
        assert version == "v1", h
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{delivery['body']}".encode(), hashlib.sha256).digest()
        ).decode()
        assert hmac.compare_digest(signature, expected), (signature, expected)
    body = json.loads(delivery["body"])
    assert set(body) == {"entity", "action", "timestamp", "data"}, body
    assert body["timestamp"].endswith("+00:00"), body
    return body


def main():
    base = serve()
    client = MlflowClient()
    ev = WebhookEvent

    with check("a contributor may not create a webhook (PERMISSION_DENIED)"):
        act_as(CONTRIBUTOR)
        expect_error(
            "PERMISSION_DENIED",
            client.create_webhook,
            name="nope",
            url=f"{base}/hook",
            events=[ev(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)],
        )

    act_as(OWNER)
    with check("bad webhooks are refused with MLflow's messages"):
        e = expect_error(
            "INVALID_PARAMETER_VALUE",
            client.create_webhook,
            name="-bad name",
            url=f"{base}/hook",
            events=["model_version.created"],
        )
        assert "is invalid" in e.message, e.message
        e = expect_error(
            "INVALID_PARAMETER_VALUE",
            client.create_webhook,
            name="ftp",
            url="ftp://127.0.0.1/hook",
            events=["model_version.created"],
        )
        assert "Invalid webhook URL scheme: 'ftp'" in e.message, e.message

    with check("create webhooks (with and without a secret), get and list them; no secret shown"):
        registry = client.create_webhook(
            name="registry-events",
            url=f"{base}/signed",
            events=[
                "registered_model.created",
                "model_version.created",
                "model_version_tag.set",
                "model_version_tag.deleted",
                "model_version_alias.created",
                "model_version_alias.deleted",
            ],
            description="every registry event",
            secret=SECRET,
        )
        assert registry.status == WebhookStatus.ACTIVE, registry
        assert len(registry.webhook_id) == 36, registry.webhook_id
        assert registry.description == "every registry event", registry
        assert [str(e) for e in registry.events][:2] == ["registered_model.created", "model_version.created"]
        plain = client.create_webhook(
            name="plain", url=f"{base}/plain", events=[ev(WebhookEntity.MODEL_VERSION_ALIAS, WebhookAction.CREATED)]
        )
        flaky = client.create_webhook(name="flaky", url=f"{base}/flaky", events=["registered_model.created"])
        got = client.get_webhook(registry.webhook_id)
        assert got.name == "registry-events" and got.url == f"{base}/signed", got
        assert got.secret is None, "the API never returns the secret"
        listed = client.list_webhooks()
        assert {w.webhook_id for w in listed} == {registry.webhook_id, plain.webhook_id, flaky.webhook_id}, listed
        first = client.list_webhooks(max_results=2)
        assert len(first) == 2 and first.token, first
        rest = client.list_webhooks(max_results=2, page_token=first.token)
        assert len(rest) == 1 and not rest.token, rest

    with check("registered_model.created delivered, signed, MLflow's payload; retried after a 503"):
        client.create_registered_model("hooked", tags={"team": "fares"}, description="a model")
        body = verified(wait_for("/signed", 1)[0], SECRET)
        assert (body["entity"], body["action"]) == ("registered_model", "created"), body
        assert body["data"] == {"name": "hooked", "tags": {"team": "fares"}, "description": "a model"}, body
        flaky_body = verified(wait_for("/flaky", 1)[0], None)
        assert flaky_body["data"]["name"] == "hooked", flaky_body
        assert max(Receiver.tries.values()) == 2, Receiver.tries

    with check("model_version.created, tags set and deleted, aliases set and deleted"):
        v = client.create_model_version("hooked", "s3://bucket/model", run_id=None, tags={"stage": "new"}, description="v1")
        client.set_model_version_tag("hooked", v.version, "validated", "yes")
        client.delete_model_version_tag("hooked", v.version, "validated")
        client.set_registered_model_alias("hooked", "champion", v.version)
        client.delete_registered_model_alias("hooked", "champion")
        bodies = [verified(d, SECRET) for d in wait_for("/signed", 6)]
        events = [f"{b['entity']}.{b['action']}" for b in bodies]
        assert sorted(events[1:]) == sorted(
            [
                "model_version.created",
                "model_version_tag.set",
                "model_version_tag.deleted",
                "model_version_alias.created",
                "model_version_alias.deleted",
            ]
        ), events
        data = {f"{b['entity']}.{b['action']}": b["data"] for b in bodies}
        assert data["model_version.created"] == {
            "name": "hooked",
            "version": v.version,
            "source": "s3://bucket/model",
            "run_id": None,
            "tags": {"stage": "new"},
            "description": "v1",
        }, data
        assert data["model_version_tag.set"] == {"name": "hooked", "version": v.version, "key": "validated", "value": "yes"}
        assert data["model_version_tag.deleted"] == {"name": "hooked", "version": v.version, "key": "validated"}
        assert data["model_version_alias.created"] == {"name": "hooked", "alias": "champion", "version": v.version}
        assert data["model_version_alias.deleted"] == {"name": "hooked", "alias": "champion"}
        plain_body = verified(wait_for("/plain", 1)[0], None)
        assert plain_body["data"] == {"name": "hooked", "alias": "champion", "version": v.version}, plain_body

    with check("test_webhook sends the event's example payload and reports the answer"):
        result = client.test_webhook(plain.webhook_id)
        assert result.success and result.response_status == 200 and result.response_body == "received", result
        result = client.test_webhook(registry.webhook_id, event=ev(WebhookEntity.MODEL_VERSION_TAG, WebhookAction.SET))
        assert result.success, result
        deliveries = wait_for("/signed", 7)
        assert verified(deliveries[-1], SECRET)["data"] == {
            "name": "example_model",
            "version": "1",
            "key": "example_key",
            "value": "example_value",
        }
        gone = client.create_webhook(name="gone", url="http://127.0.0.1:9/nothing", events=["model_version.created"])
        result = client.test_webhook(gone.webhook_id)
        assert not result.success and result.error_message.startswith("Failed to test webhook"), result

    with check("a redirect is not followed: the test says so, nothing is delivered"):
        moved = client.create_webhook(name="moved", url=f"{base}/moved", events=["model_version.created"])
        before = len(wait_for("/signed", 7))
        result = client.test_webhook(moved.webhook_id)
        assert not result.success and result.response_status == 307, result
        time.sleep(0.3)
        assert len([r for r in RECEIVED if r["path"] == "/signed"]) == before
        client.delete_webhook(moved.webhook_id)

    with check("prompts: prompt.created and prompt_version.created with the template, alias events"):
        import mlflow

        client.create_webhook(
            name="prompts",
            url=f"{base}/prompts",
            events=["prompt.created", "prompt_version.created", "prompt_alias.created", "registered_model.created"],
        )
        mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}!", tags={"team": "support"})
        mlflow.genai.set_prompt_alias("greeting", alias="production", version=1)
        bodies = [verified(d, None) for d in wait_for("/prompts", 3)]
        events = {f"{b['entity']}.{b['action']}": b["data"] for b in bodies}
        assert set(events) == {"prompt.created", "prompt_version.created", "prompt_alias.created"}, events
        assert events["prompt.created"]["name"] == "greeting", events
        assert "mlflow.prompt.is_prompt" not in events["prompt.created"]["tags"], events
        version = events["prompt_version.created"]
        assert version["template"] == "Hello {{name}}!" and version["version"] == "1", version
        assert "mlflow.prompt.text" not in version["tags"], version
        assert events["prompt_alias.created"] == {"name": "greeting", "alias": "production", "version": "1"}

    with check("update: disabled webhooks get nothing; events replaced; a new secret signs"):
        client.update_webhook(flaky.webhook_id, status="DISABLED")
        client.update_webhook(plain.webhook_id, events=["registered_model.created"], secret="second-secret")
        updated = client.get_webhook(plain.webhook_id)
        assert [str(e) for e in updated.events] == ["registered_model.created"], updated
        assert updated.name == "plain" and updated.url == f"{base}/plain", updated
        client.create_registered_model("hooked-two")
        body = verified(wait_for("/plain", 3)[-1], "second-secret")
        assert body["data"]["name"] == "hooked-two", body
        time.sleep(0.5)
        assert len([r for r in RECEIVED if r["path"] == "/flaky"]) == 1, "a disabled webhook got a delivery"

    with check("delete: gone from the list, get says RESOURCE_DOES_NOT_EXIST"):
        client.delete_webhook(flaky.webhook_id)
        e = expect_error("RESOURCE_DOES_NOT_EXIST", client.get_webhook, flaky.webhook_id)
        assert e.message.endswith(f"Webhook with ID {flaky.webhook_id} not found."), e.message
        assert flaky.webhook_id not in {w.webhook_id for w in client.list_webhooks()}

    print(f"{passed()} checks passed", flush=True)


if __name__ == "__main__":
    main()
