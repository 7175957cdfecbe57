import time
from tests.api.conftest import Keys, profile

def test_smoke(api, keys, customer_id):
    with api.client() as c:
        t=time.perf_counter()
        r = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=Keys.bearer(keys.producer))
        print(r.status_code, r.json(), r.headers, time.perf_counter()-t)
        jid = r.json()["job_id"]
        r = c.get(f"/api/jobs/{jid}", headers=Keys.bearer(keys.producer))
        print(r.status_code, r.json())
        r = c.get("/api/health"); print(r.status_code, r.json())
        r = c.get("/api/metrics"); print(r.status_code, r.text[-3000:])
        r = c.post("/api/jobs", json={"customer": profile(website="http://127.0.0.1/"), "tier": "pro"}, headers=Keys.bearer(keys.producer))
        print(r.status_code, r.json())
        r = c.post("/api/jobs", json={"tier": "pro"}, headers=Keys.bearer(keys.producer))
        print(r.status_code, r.json())
    print(api.log.read_text()[-3000:])
