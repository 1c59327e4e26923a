"""The export formats of other CRMs: which header of a Salesforce, HubSpot or Pipedrive export is which of
our fields, how to tell a vendor and an object (Lead, Contact, Account, Opportunity) from a file's headers,
and the same tables read backwards for `crm-sheets export`. Headers follow the vendors' own exports:
Salesforce API names (Data Export, Data Loader), HubSpot property labels, Pipedrive "Entity - Field".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crm_sheets.model.schema import normalize_header


@dataclass(frozen=True)
class Target:
    """What one source column becomes.

    kind: "field" (our field), "ext" (the source record's ID), "link" (a reference ``field`` to ``table``,
    ``by`` its source ID or by a readable key: name, domain, email), "owner_id" (the owner when no owner
    name is known), "alt" (``field`` when the record has no value for it yet, else a custom field),
    "full_name" (split into first and last name), "status" (Pipedrive's open/won/lost: the stage when won or lost).
    """

    kind: str
    field: str = ""
    table: str = ""
    by: str = ""


def F(name: str) -> Target:
    return Target("field", name)


EXT = Target("ext")
OWNER_ID = Target("owner_id")


def link(field: str, table: str, by: str) -> Target:
    return Target("link", field, table, by)


def alt(field: str) -> Target:
    return Target("alt", field)


# Salesforce: one file per object, headers are API names; custom fields end in __c.
SALESFORCE: dict[str, dict[str, Target]] = {
    "leads": {
        "Id": EXT, "FirstName": F("first_name"), "LastName": F("last_name"), "Name": Target("full_name"),
        "Company": F("company"),
        "Email": F("email"), "Phone": F("phone"), "MobilePhone": alt("phone"), "Title": F("job_title"),
        "LeadSource": F("source"), "Status": F("status"), "OwnerId": OWNER_ID, "Owner.Name": F("owner"),
        "CreatedDate": F("created"), "Website": F("website"), "Industry": F("industry"),
        "NumberOfEmployees": F("company_size"), "City": F("city"), "Country": F("country"),
        "HasOptedOutOfEmail": F("opted_out"), "Description": F("notes"),
        "ConvertedAccountId": link("account", "accounts", "id"), "ConvertedContactId": link("contact", "contacts", "id"),
        "LastActivityDate": F("last_contacted"),
    },
    "contacts": {
        "Id": EXT, "FirstName": F("first_name"), "LastName": F("last_name"), "Name": Target("full_name"),
        "Email": F("email"), "Phone": F("phone"),
        "MobilePhone": F("mobile"), "Title": F("job_title"), "AccountId": link("account", "accounts", "id"),
        "Account.Name": link("account", "accounts", "key"), "MailingCity": F("city"), "MailingCountry": F("country"),
        "OwnerId": OWNER_ID, "Owner.Name": F("owner"), "CreatedDate": F("created"), "LeadSource": F("source"),
        "HasOptedOutOfEmail": F("opted_out"), "Description": F("notes"),
    },
    "accounts": {
        "Id": EXT, "Name": F("name"), "Type": F("type"), "Industry": F("industry"), "NumberOfEmployees": F("employees"),
        "AnnualRevenue": F("annual_revenue"), "Website": F("website"), "Phone": F("phone"), "BillingCity": F("city"),
        "BillingCountry": F("country"), "BillingStreet": F("address"), "ParentId": link("parent", "accounts", "id"),
        "OwnerId": OWNER_ID, "Owner.Name": F("owner"), "CreatedDate": F("created"), "Description": F("notes"),
    },
    "deals": {
        "Id": EXT, "Name": F("name"), "AccountId": link("account", "accounts", "id"),
        "Account.Name": link("account", "accounts", "key"), "ContactId": link("contact", "contacts", "id"),
        "StageName": F("stage"), "Amount": F("amount"), "CurrencyIsoCode": F("currency"), "CloseDate": F("close_date"),
        "Probability": F("probability"), "Type": F("type"), "LeadSource": F("source"), "NextStep": F("next_step"),
        "OwnerId": OWNER_ID, "Owner.Name": F("owner"), "CreatedDate": F("created"),
        "CampaignId": link("campaign", "campaigns", "id"),
    },
}
# Salesforce object names (file names of a Data Export) -> our table
SALESFORCE_OBJECTS = {"lead": "leads", "contact": "contacts", "account": "accounts", "opportunity": "deals"}

# HubSpot: one file per object, headers are property labels.
_HS_PERSON = {
    "Record ID": EXT, "First Name": F("first_name"), "Last Name": F("last_name"), "Email": F("email"),
    "Phone Number": F("phone"), "Job Title": F("job_title"), "Create Date": F("created"), "City": F("city"),
    "Country/Region": F("country"), "Contact owner": F("owner"), "Original Source": F("source"),
    "Last Contacted": F("last_contacted"), "Unsubscribed from all email": F("opted_out"),
}
HUBSPOT: dict[str, dict[str, Target]] = {
    "contacts": {**_HS_PERSON, "Mobile Phone Number": F("mobile"),
                 "Associated Company": link("account", "accounts", "key"),
                 "Associated Company ID": link("account", "accounts", "id"),
                 "Associated Company IDs": link("account", "accounts", "id"),
                 "Associated Company (Primary)": link("account", "accounts", "key"),
                 "Primary Associated Company ID": link("account", "accounts", "id"),
                 "Company Name": link("account", "accounts", "key"), "Contact ID": EXT},
    "leads": {**_HS_PERSON, "Mobile Phone Number": alt("phone"), "Company Name": F("company"),
              "Associated Company": alt("company"), "Lead Status": F("status"), "Website URL": F("website"),
              "Industry": F("industry")},
    "accounts": {
        "Record ID": EXT, "Company name": F("name"), "Company Domain Name": F("website"), "Website URL": alt("website"),
        "Phone Number": F("phone"), "City": F("city"), "Country/Region": F("country"), "Industry": F("industry"),
        "Number of Employees": F("employees"), "Annual Revenue": F("annual_revenue"), "Company owner": F("owner"),
        "Create Date": F("created"), "Type": F("type"), "Description": F("notes"), "Street Address": F("address"),
        "Parent Company": link("parent", "accounts", "key"), "Company ID": EXT,
    },
    "deals": {
        "Record ID": EXT, "Deal Name": F("name"), "Deal Stage": F("stage"), "Amount": F("amount"),
        "Close Date": F("close_date"), "Deal owner": F("owner"), "Create Date": F("created"), "Deal Type": F("type"),
        "Associated Company": link("account", "accounts", "key"),
        "Associated Company (Primary)": link("account", "accounts", "key"),
        "Associated Company IDs": link("account", "accounts", "id"),
        "Associated Company ID": link("account", "accounts", "id"),
        "Associated Contact": link("contact", "contacts", "key"), "Deal ID": EXT,
        "Associated Contact IDs": link("contact", "contacts", "id"),
        "Currency": F("currency"), "Deal probability": F("probability"), "Original Source": F("source"),
        "Next step": F("next_step"), "Closed Lost Reason": F("lost_reason"),
    },
}

# Pipedrive: "Entity - Field" headers; one export row can carry an organization, a person and a deal.
PIPEDRIVE_ENTITIES = {"organization": "accounts", "person": "contacts", "deal": "deals", "lead": "leads"}
PIPEDRIVE: dict[str, dict[str, Target]] = {
    "accounts": {
        "Organization - ID": EXT, "Organization - Name": F("name"), "Organization - Owner": F("owner"),
        "Organization - Address": F("address"), "Organization - Address - City/town/village/locality": F("city"),
        "Organization - Address - Country": F("country"), "Organization - Website": F("website"),
        "Organization - Industry": F("industry"), "Organization - Number of employees": F("employees"),
        "Organization - Annual revenue": F("annual_revenue"), "Organization - Organization created": F("created"),
        "Organization - Add time": F("created"),
    },
    "contacts": {
        "Person - ID": EXT, "Person - Name": Target("full_name"), "Person - First name": F("first_name"),
        "Person - Last name": F("last_name"), "Person - Email - Work": F("email"), "Person - Email": F("email"),
        "Person - Email - Home": alt("email"), "Person - Email - Other": alt("email"),
        "Person - Phone - Work": F("phone"), "Person - Phone": F("phone"), "Person - Phone - Mobile": F("mobile"),
        "Person - Phone - Home": alt("phone"), "Person - Phone - Other": alt("phone"),
        "Person - Organization": link("account", "accounts", "key"), "Person - Owner": F("owner"),
        "Person - Job title": F("job_title"), "Person - Person created": F("created"), "Person - Add time": F("created"),
        "Person - Notes": F("notes"),
    },
    "deals": {
        "Deal - ID": EXT, "Deal - Title": F("name"), "Deal - Value": F("amount"), "Deal - Currency": F("currency"),
        "Deal - Currency of Value": F("currency"), "Deal - Stage": F("stage"), "Deal - Status": Target("status"),
        "Deal - Owner": F("owner"), "Deal - Expected close date": F("close_date"), "Deal - Won time": F("closed"),
        "Deal - Close time": alt("closed"), "Deal - Deal created": F("created"), "Deal - Add time": F("created"),
        "Deal - Organization": link("account", "accounts", "key"), "Deal - Contact person": link("contact", "contacts", "key"),
        "Deal - Probability": F("probability"), "Deal - Lost reason": F("lost_reason"), "Deal - Source": F("source"),
        "Deal - Next activity date": alt("next_step"),
    },
    "leads": {
        "Lead - ID": EXT, "Lead - Title": F("company"), "Lead - Owner": F("owner"), "Lead - Source": F("source"),
        "Lead - Lead created": F("created"), "Lead - Add time": F("created"),
    },
}

VENDORS = {"salesforce": SALESFORCE, "hubspot": HUBSPOT, "pipedrive": PIPEDRIVE}
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_TABLE_ORDER = ("accounts", "contacts", "leads", "deals")


def _keys(headers: list[str]) -> set[str]:
    return {normalize_header(h) for h in headers if h}


def _lookup(mapping: dict[str, Target]) -> dict[str, Target]:
    return {normalize_header(h): t for h, t in mapping.items()}


def detect_vendor(headers: list[str]) -> str | None:
    """salesforce, hubspot or pipedrive when a file's headers are plainly that vendor's export."""
    keys = _keys(headers)
    raw = {h.strip() for h in headers if h}
    if sum(1 for h in raw if re.match(r"^(Deal|Person|Organization|Lead|Activity|Product) - ", h)) >= 2:
        return "pipedrive"
    spaced = {" ".join(h.lower().split()) for h in raw}  # HubSpot's labels have spaces; Salesforce's ContactId has none
    if spaced & {"record id", "contact id", "company id", "deal id"} and len(keys & {normalize_header(h) for m in HUBSPOT.values() for h in m}) >= 3:
        return "hubspot"
    sf = {h for m in SALESFORCE.values() for h in m if h != "Id"}
    # API names: camel case without spaces (FirstName, StageName), custom fields ending __c
    if "Id" in raw and (len(raw & sf) >= 2 or any(h.endswith("__c") for h in raw)):
        return "salesforce"
    return None


def salesforce_table(headers: list[str], stem: str) -> str | None:
    """The Salesforce object of a file: by its name (Lead.csv, Opportunity.csv) or its headers."""
    name = normalize_header(re.sub(r"[\d_\-\s]+$", "", stem))
    if name in SALESFORCE_OBJECTS:
        return SALESFORCE_OBJECTS[name]
    raw = {h.strip() for h in headers if h}
    if "StageName" in raw:
        return "deals"
    if "LastName" in raw:
        return "leads" if ({"Company", "Status", "IsConverted"} & raw) and "AccountId" not in raw else "contacts"
    if "Name" in raw:
        return "accounts"
    return None


def hubspot_table(headers: list[str], stem: str) -> str:
    """HubSpot names its export files after the object (hubspot-crm-exports-all-companies-...); else the headers say."""
    keys, name = _keys(headers), normalize_header(stem)
    if {"dealname", "dealstage"} & keys:
        return "deals"
    for word, table in (("compan", "accounts"), ("deal", "deals"), ("lead", "leads"), ("contact", "contacts")):
        if word in name:
            return table
    if "companyname" in keys and not {"firstname", "lastname"} & keys:
        return "accounts"
    return "contacts"


def pipedrive_parts(headers: list[str]) -> list[str]:
    """The tables one Pipedrive file holds, in the order a row's records are made (organization first)."""
    found = {PIPEDRIVE_ENTITIES[m.group(1).lower()] for h in headers if h
             for m in [re.match(r"^(Deal|Person|Organization|Lead) - ", h.strip())] if m}
    return [t for t in _TABLE_ORDER if t in found]


def vendor_target(vendor: str, table: str, header: str) -> Target | None:
    return _lookup(VENDORS[vendor].get(table, {})).get(normalize_header(header))


def export_headers(vendor: str, table: str) -> dict[str, str]:
    """field (or "ext", "link:<field>") -> the vendor's header, for `crm-sheets export`: the first header
    of the vendor's table that maps to it (readable keys preferred for HubSpot and Pipedrive links)."""
    out: dict[str, str] = {}
    for header, t in VENDORS[vendor].get(table, {}).items():
        if t.kind == "ext":
            out.setdefault("ext", header)
        elif t.kind in ("field", "full_name"):
            out.setdefault(t.field or "full_name", header)
        elif t.kind == "link":
            if vendor == "salesforce" and t.by == "id" or vendor != "salesforce" and t.by == "key":
                out.setdefault(f"link:{t.field}", header)
    return out


def is_salesforce_id(value: str) -> bool:
    return bool(_SF_ID.match(value))
