"""A real gspread Client that talks to the emulator (or any endpoint given by CRM_SHEETS_GSHEETS_ENDPOINT).

gspread builds every URL from the constants of gspread/urls.py (https://sheets.googleapis.com/v4/...,
https://www.googleapis.com/drive/v3/...) and sends it through the requests Session it is given. So the
least intrusive way in is that Session: `EndpointSession` rewrites the two Google origins to the endpoint
and sends no credentials; gspread's own request building, parameters and error handling stay untouched.
"""
from __future__ import annotations

import os
from typing import Any

import requests

ENDPOINT_VARIABLE = "CRM_SHEETS_GSHEETS_ENDPOINT"
GOOGLE_ORIGINS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


class EndpointSession(requests.Session):
    """A requests Session sending what gspread addresses to Google's API hosts to `endpoint` instead."""

    def __init__(self, endpoint: str, token: str | None = None):
        super().__init__()
        self.endpoint = endpoint.rstrip("/")
        if token:  # the emulator counts its per-user quota by this header, as Google does by the credential
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        for origin in GOOGLE_ORIGINS:
            if url.startswith(origin):
                url = self.endpoint + url[len(origin):]
                break
        return super().request(method, url, *args, **kwargs)


def emulator_client(endpoint: str | None = None, *, token: str | None = None, http_client: Any = None):
    """A gspread.Client whose requests go to `endpoint` (default: $CRM_SHEETS_GSHEETS_ENDPOINT), no credentials.

    `token` names the "user" whose quota the emulator counts; `http_client` is a gspread HTTPClient class
    (e.g. a retrying one) to use instead of gspread's default."""
    import gspread
    from gspread.http_client import HTTPClient

    endpoint = endpoint or os.environ.get(ENDPOINT_VARIABLE)
    if not endpoint:
        raise ValueError(f"no endpoint: pass one or set {ENDPOINT_VARIABLE}=http://127.0.0.1:PORT")
    return gspread.Client(auth=None, session=EndpointSession(endpoint, token), http_client=http_client or HTTPClient)


def create_spreadsheet(client: Any, title: str, sheets: list[str] | None = None):
    """A new spreadsheet made with spreadsheets.create (a Sheets API call, where gspread's Client.create
    goes through Drive), opened as a gspread Spreadsheet. `sheets`: titles of its sheets (default Sheet1)."""
    from gspread.urls import SPREADSHEETS_API_V4_BASE_URL

    body: dict[str, Any] = {"properties": {"title": title}}
    if sheets:
        body["sheets"] = [{"properties": {"title": name}} for name in sheets]
    made = client.http_client.request("post", SPREADSHEETS_API_V4_BASE_URL, json=body).json()
    return client.open_by_key(made["spreadsheetId"])
