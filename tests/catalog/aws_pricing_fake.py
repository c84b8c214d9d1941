"""A fake AWS Price List endpoint on 127.0.0.1: the JSON 1.1 `GetProducts` call boto3 really makes.

moto has no Pricing service (it answers 404), so refresh tests point `AWS_ENDPOINT_URL_PRICING` here.
Products are built in the Price List's own shape (attributes, OnDemand terms with price dimensions, all
as a JSON *string* per product) and paged one product per page, so the client's pagination is exercised.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def product(region: str, instance_type: str, usd: float) -> str:
    sku = f"SKU-{region}-{instance_type}"
    return json.dumps({
        "product": {"sku": sku, "attributes": {"instanceType": instance_type, "regionCode": region,
                                               "operatingSystem": "Linux", "tenancy": "Shared"}},
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"priceDimensions": {
            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": f"{usd:.6f}"},
                                             "description": f"${usd} per On Demand Linux {instance_type}"},
        }}}}})


class FakePricing:
    """`prices[(region, instance_type)] = usd`; `calls` counts GetProducts requests; `fail_with` set to an
    error type (e.g. AccessDeniedException) makes every call answer 400 with it."""

    def __init__(self, prices: dict[tuple[str, str], float]) -> None:
        self.prices = prices
        self.calls = 0
        self.fail_with: str | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                if target != "AWSPriceListService.GetProducts":
                    return self._send(400, {"__type": "InvalidParameterException", "message": target})
                fake.calls += 1
                if fake.fail_with:
                    return self._send(400, {"__type": fake.fail_with, "Message": "injected by the test"})
                self._send(200, fake.page(body))

            def _send(self, status: int, data: dict) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def page(self, body: dict) -> dict:
        """Matching products, one per page: a duplicate at a higher price first, then the real one."""
        want = {f["Field"]: f["Value"] for f in body.get("Filters", [])}
        usd = self.prices.get((want.get("regionCode", ""), want.get("instanceType", "")))
        if usd is None or body.get("ServiceCode") != "AmazonEC2":
            return {"FormatVersion": "aws_v1", "PriceList": []}
        region, itype = want["regionCode"], want["instanceType"]
        if not body.get("NextToken"):
            return {"FormatVersion": "aws_v1", "PriceList": [product(region, itype, usd * 10)],
                    "NextToken": "page-2"}
        return {"FormatVersion": "aws_v1", "PriceList": [product(region, itype, usd)]}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
