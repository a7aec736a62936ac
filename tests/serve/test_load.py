"""A bounded load test against 127.0.0.1 only: concurrent clients, none of whose requests fail,
and concurrent requests batched together. Latency and throughput are figures for
benchmarks/serve.py, not assertions."""

from __future__ import annotations

import threading
import time

CLIENTS = 12
REQUESTS_PER_CLIENT = 4
DEADLINE_S = 60.0


def test_concurrent_clients_all_succeed_and_are_batched(live_server):
    import httpx

    url, application = live_server
    assert url.startswith("http://127.0.0.1:")
    statuses: list[int] = []
    texts: dict[int, str] = {}
    lock = threading.Lock()
    start = time.monotonic()

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0, trust_env=False) as http:
            for k in range(REQUESTS_PER_CLIENT):
                if time.monotonic() - start > DEADLINE_S:
                    return
                if k % 2 == 0:
                    body = {"prime": "he", "length": 20, "temperature": 0, "seed": number}
                    response = http.post("/v1/lm-run/generate", json=body)
                    if response.status_code == 200:
                        with lock:
                            texts[number] = response.json()["text"]
                else:
                    body = {"texts": [f"a good film {number}"]}
                    response = http.post("/v1/classify-run/classify", json=body)
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_S)
    assert not any(thread.is_alive() for thread in threads), "the load test ran past its deadline"
    assert statuses == [200] * (CLIENTS * REQUESTS_PER_CLIENT)
    # greedy generation from one prime: every client got the same text, batched or not
    assert len(set(texts.values())) == 1 and len(texts) == CLIENTS
    batchers = application.state.serving.batchers
    generated = batchers["lm-run"].stats
    assert generated.items == CLIENTS * REQUESTS_PER_CLIENT // 2
    assert generated.batches < generated.items  # some requests ran together
