/**
 * crm-sheets: the CRM menu of a Google Sheets workbook (Extensions > Apps Script, paste this file).
 *
 * Each item asks `crm-sheets serve` to run jobs: POST {server}/jobs/run with the body
 * {"jobs": [...], "trigger": "menu"}, signed with the headers
 *   X-Crm-Timestamp: Unix seconds
 *   X-Crm-Signature: hex HMAC-SHA256 of (timestamp + "." + body) under the shared secret.
 * Set two Script Properties (Project Settings > Script Properties):
 *   CRM_SHEETS_SERVER_URL     e.g. https://crm.example.org (the server, behind HTTPS)
 *   CRM_SHEETS_SERVE_SECRET   the same secret as the server's CRM_SHEETS_SERVE_SECRET
 * The secret never goes in a cell: people who can read the sheet cannot read Script Properties
 * unless they can edit the script.
 *
 * Written in plain ES5 so that the project's tests can run this very file.
 */

var CRM_MENU = [
  ['Refresh', 'crmRefresh'],
  ['Check', 'crmCheck'],
  ['Dedupe', 'crmDedupe'],
  ['Show last run', 'crmShowLastRun']
];

function onOpen() {
  var menu = SpreadsheetApp.getUi().createMenu('CRM');
  for (var i = 0; i < CRM_MENU.length; i++) {
    if (i === CRM_MENU.length - 1) {
      menu.addSeparator();
    }
    menu.addItem(CRM_MENU[i][0], CRM_MENU[i][1]);
  }
  menu.addToUi();
}

/** Every job, in order: check, dedupe, automate, report. */
function crmRefresh() {
  return crmRunJobs_(['run'], 'Refresh');
}

function crmCheck() {
  return crmRunJobs_(['check'], 'Check');
}

function crmDedupe() {
  return crmRunJobs_(['dedupe'], 'Dedupe');
}

function crmShowLastRun() {
  // a POST with a fresh request ID: the server refuses a signed request it has seen (two clicks in one second)
  var response = crmRequest_('post', '/jobs/last', JSON.stringify({request: Utilities.getUuid()}));
  var data = crmParse_(response);
  if (response.getResponseCode() !== 200) {
    return crmShowError_('Last run', response, data);
  }
  var last = data.last;
  if (!last) {
    SpreadsheetApp.getActiveSpreadsheet().toast('No run yet.', 'CRM: last run', 10);
    return data;
  }
  var lines = [
    'Started: ' + last.started,
    'Ended: ' + last.ended,
    'Job: ' + last.jobs.join(', '),
    'Trigger: ' + last.trigger,
    'Result: ' + last.result,
    'Errors: ' + last.errors + ', warnings: ' + last.warnings + ', changes: ' + last.changes
  ];
  if (last.first_error) {
    lines.push('First error: ' + last.first_error);
  }
  crmSidebar_('CRM: last run', lines);
  return data;
}

function crmRunJobs_(jobs, title) {
  var body = JSON.stringify({jobs: jobs, trigger: 'menu', request: Utilities.getUuid()});  // each click signs anew
  SpreadsheetApp.getActiveSpreadsheet().toast('Running…', 'CRM: ' + title, 5);
  var response = crmRequest_('post', '/jobs/run', body);
  var data = crmParse_(response);
  if (response.getResponseCode() !== 200) {
    return crmShowError_(title, response, data);
  }
  var lines = [
    'Jobs: ' + data.jobs.join(', '),
    'Errors: ' + data.errors + ', warnings: ' + data.warnings,
    'Changed cells: ' + data.changes.updated_cells + ', new rows: ' + data.changes.appended_rows +
      ', merged: ' + data.changes.archived_rows,
    data.written ? 'The workbook was updated.' : 'Nothing needed changing.'
  ];
  for (var i = 0; i < data.first_errors.length; i++) {
    lines.push('✗ ' + data.first_errors[i]);
  }
  if (data.first_errors.length) {
    crmSidebar_('CRM: ' + title, lines);
  } else {
    SpreadsheetApp.getActiveSpreadsheet().toast(lines.join('\n'), 'CRM: ' + title + ' done', 15);
  }
  return data;
}

/** A signed request to the server; the answer is returned whatever its status. */
function crmRequest_(method, path, body) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('CRM_SHEETS_SERVER_URL');
  var secret = props.getProperty('CRM_SHEETS_SERVE_SECRET');
  if (!url || !secret) {
    throw new Error('Set CRM_SHEETS_SERVER_URL and CRM_SHEETS_SERVE_SECRET in Project Settings > Script Properties.');
  }
  var timestamp = String(Math.floor(new Date().getTime() / 1000));
  var headers = {
    'X-Crm-Timestamp': timestamp,
    'X-Crm-Signature': crmSign_(secret, timestamp, body)
  };
  var options = {method: method, headers: headers, muteHttpExceptions: true, followRedirects: false};
  if (method === 'post') {
    options.contentType = 'application/json';
    options.payload = body;
  }
  return UrlFetchApp.fetch(url.replace(/\/+$/, '') + path, options);
}

/** hex HMAC-SHA256 of timestamp + "." + body; Apps Script gives signed bytes (-128..127). */
function crmSign_(secret, timestamp, body) {
  var bytes = Utilities.computeHmacSha256Signature(timestamp + '.' + body, secret, Utilities.Charset.UTF_8);
  var hex = '';
  for (var i = 0; i < bytes.length; i++) {
    var b = bytes[i] & 0xff;
    hex += (b < 16 ? '0' : '') + b.toString(16);
  }
  return hex;
}

function crmParse_(response) {
  try {
    return JSON.parse(response.getContentText());
  } catch (e) {
    return {error: response.getContentText()};
  }
}

function crmShowError_(title, response, data) {
  var code = response.getResponseCode();
  var why = (data && data.error) || ('HTTP ' + code);
  if (code === 401) {
    why = 'The server refused the request (' + why + '). Check CRM_SHEETS_SERVE_SECRET on both sides and the server clock.';
  } else if (code === 409) {
    why = 'Busy: ' + why;
  }
  SpreadsheetApp.getActiveSpreadsheet().toast(why, 'CRM: ' + title + ' failed', 20);
  return data;
}

function crmSidebar_(title, lines) {
  var html = '<div style="font-family: sans-serif; font-size: 13px">';
  for (var i = 0; i < lines.length; i++) {
    html += '<p>' + crmEscape_(lines[i]) + '</p>';
  }
  html += '</div>';
  SpreadsheetApp.getUi().showSidebar(HtmlService.createHtmlOutput(html).setTitle(title));
}

function crmEscape_(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
