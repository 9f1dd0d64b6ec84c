"""One HTTP attempt over urllib3's connection pool, answered as a `requests.Response`.

A run is thousands of small requests on a handful of kept-alive connections. `requests`
spends about two thirds of a request's CPU time in what a fixed JSON client does not
need: merging session settings, cookies, hooks, re-parsing the URL, proxies and CA paths
per call, a response object built field by field (measured in bench/README.md). This
module keeps the pool and does one attempt; what an attempt raises or returns is what
`requests` would have (`requests.ConnectionError`, `Timeout`, a `Response`), so dlt's
retry rules apply to it unchanged (`sources.http.client`).

Not carried over on purpose: cookies (both APIs authenticate by token or key, and a
cookie a load balancer sets would only tie a run to one backend) and redirects (a
redirect would resend the token to wherever it points: it is answered as an error that
names the new address, to be set as the base URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi
import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from requests.utils import get_auth_from_url, get_environ_proxies, requote_uri
from urllib3 import exceptions as u3

ACCEPT_ENCODING = "gzip, deflate"


def build_url(base_url: str, path: str, params: Mapping[str, Any] | None) -> str:
    """`base_url/path?params`, encoded the way `requests` encodes them: None values are
    left out, a list or tuple repeats its key, characters a URL may not hold are quoted."""
    url = f"{base_url}/{path.lstrip('/')}"
    if params:
        pairs = [(key, item) for key, value in params.items()
                 for item in (value if isinstance(value, list | tuple) else (value,)) if item is not None]
        if pairs:
            url += ("&" if "?" in url else "?") + urlencode(pairs)
    return requote_uri(url)


class Transport:
    """A pool of kept-alive connections to one API, proxies as the environment says."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str], timeout: float, max_connections: int) -> None:
        self.headers = {"User-Agent": f"chatfunnel (dlt/{_dlt_version()})", "Accept-Encoding": ACCEPT_ENCODING,
                        "Accept": "*/*", "Connection": "keep-alive", **headers}
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        pool_options: dict[str, Any] = {"maxsize": max(1, max_connections), "block": False,
                                        "cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
        # the proxy variables are read once for this host (requests read them on every call)
        proxy = _proxy_for(base_url)
        if proxy is None:
            self.http: urllib3.PoolManager = urllib3.PoolManager(num_pools=4, **pool_options)
        elif proxy.startswith("socks"):
            from urllib3.contrib.socks import SOCKSProxyManager

            self.http = SOCKSProxyManager(proxy, num_pools=4, **pool_options)
        else:
            username, password = get_auth_from_url(proxy)
            proxy_headers = urllib3.make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
            self.http = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, num_pools=4, **pool_options)

    def send(self, method: str, url: str, *, body: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        """One attempt. Raises what `requests` raises for the same failure."""
        try:
            raw = self.http.urlopen(method, url, body=body, headers={**self.headers, **(headers or {})},
                                    retries=False, redirect=False, timeout=self.timeout, preload_content=True)
        except u3.NewConnectionError as exc:
            raise requests.ConnectionError(exc) from None
        except u3.ConnectTimeoutError as exc:
            raise requests.ConnectTimeout(exc) from None
        except u3.ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc) from None
        except u3.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        except u3.ProxyError as exc:
            raise requests.exceptions.ProxyError(exc) from None
        except u3.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from None
        except u3.LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc) from None
        except (u3.ProtocolError, OSError) as exc:
            raise requests.ConnectionError(exc) from None
        except u3.HTTPError as exc:
            raise requests.RequestException(exc) from None
        response = requests.Response()
        response.status_code = raw.status
        response.reason = raw.reason or ""
        response.headers = CaseInsensitiveDict(raw.headers)
        response._content = raw.data
        response.url = url
        return response

    def close(self) -> None:
        self.http.clear()


def _proxy_for(url: str) -> str | None:
    proxies = get_environ_proxies(url)
    return proxies.get(urlsplit(url).scheme) or proxies.get("all")


def _dlt_version() -> str:
    from dlt.version import __version__

    return __version__
