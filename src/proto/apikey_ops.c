/*
 * apikey_ops.c: API-key management over the native dialect
 * (apikey.list/create/update/delete, docs/AUTH.md) and the key fields the
 * admin API shares (proto_apikey_parse_fields, proto_apikey_write). Writes go
 * to the shared LMDB store (its own writer lock: key management is rare and
 * never on the order path); reads use the io thread's reader.
 *
 * Runs on the io threads.
 */
#include "proto_internal.h"

#include <stdio.h>
#include <string.h>

/* Reads "permissions" (array of names), "ips" (array of rules) and "label" into key. */
unsigned proto_apikey_parse_fields(const json_doc *doc, uint32_t obj, auth_apikey_info *key,
                                   char *why, size_t why_len) {
  unsigned fields = 0;
  uint32_t tok = json_object_get(doc, obj, "permissions", 11);
  if (tok != JSON_NONE) {
    if (doc->tokens[tok].type != JSON_ARRAY) goto bad_permissions;
    key->permissions = 0;
    uint32_t item = tok + 1;
    for (uint32_t i = 0; i < doc->tokens[tok].count; i++, item = doc->tokens[item].next) {
      const char *name;
      size_t len;
      uint32_t bit = json_string_raw(doc, item, &name, &len) ? auth_perm_from_name(name, len) : 0;
      if (!bit) goto bad_permissions;
      key->permissions |= bit;
    }
    fields |= AUTH_APIKEY_SET_PERMISSIONS;
  }
  tok = json_object_get(doc, obj, "ips", 3);
  if (tok != JSON_NONE) {
    if (doc->tokens[tok].type != JSON_ARRAY || doc->tokens[tok].count > AUTH_APIKEY_MAX_IPS) {
      snprintf(why, why_len, "ips must be an array of at most %d addresses or CIDR prefixes",
               AUTH_APIKEY_MAX_IPS);
      return UINT32_MAX;
    }
    key->ip_count = 0;
    uint32_t item = tok + 1;
    for (uint32_t i = 0; i < doc->tokens[tok].count; i++, item = doc->tokens[item].next) {
      const char *text;
      size_t len;
      if (!json_string_raw(doc, item, &text, &len) ||
          auth_ip_rule_parse(text, len, &key->ips[key->ip_count], why, why_len) != AUTH_OK) {
        if (!why[0]) snprintf(why, why_len, "ips entries are strings such as \"10.0.0.0/8\"");
        return UINT32_MAX;
      }
      key->ip_count++;
    }
    fields |= AUTH_APIKEY_SET_IPS;
  }
  tok = json_object_get(doc, obj, "label", 5);
  if (tok != JSON_NONE) {
    size_t len;
    if (doc->tokens[tok].type != JSON_STRING ||
        json_string_unescape(doc, tok, key->label, sizeof(key->label), &len) != JSON_OK) {
      snprintf(why, why_len, "label must be a string of at most %d bytes", AUTH_APIKEY_LABEL_MAX);
      return UINT32_MAX;
    }
    fields |= AUTH_APIKEY_SET_LABEL;
  }
  return fields;
bad_permissions:
  snprintf(why, why_len, "permissions must be an array of \"read\", \"trade\", \"withdraw\"");
  return UINT32_MAX;
}

/* A key as apikey.list shows it; the secret only when given (at creation). */
void proto_apikey_write(json_writer *w, const auth_apikey_info *key, const char *secret) {
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "key");
  json_write_string(w, key->key_id, strlen(key->key_id));
  if (secret) {
    JSON_WRITE_KEY(w, "secret");
    json_write_string(w, secret, strlen(secret));
  }
  JSON_WRITE_KEY(w, "label");
  json_write_string(w, key->label, strlen(key->label));
  JSON_WRITE_KEY(w, "permissions");
  json_write_array_begin(w);
  for (uint32_t bit = 1; bit <= AUTH_PERM_WITHDRAW; bit <<= 1)
    if (key->permissions & bit)
      json_write_string(w, auth_perm_name(bit), strlen(auth_perm_name(bit)));
  json_write_array_end(w);
  JSON_WRITE_KEY(w, "ips");
  json_write_array_begin(w);
  for (uint32_t i = 0; i < key->ip_count; i++) {
    char text[AUTH_IP_TEXT_MAX];
    auth_ip_rule_format(&key->ips[i], text);
    json_write_string(w, text, strlen(text));
  }
  json_write_array_end(w);
  JSON_WRITE_KEY(w, "created");
  json_write_int64(w, key->created_ms);
  json_write_object_end(w);
}

/* TOTP gate: false after replying when the user has TOTP and otp is missing or wrong. */
static bool otp_ok(const request *r) {
  const char *otp = NULL;
  size_t len = 0;
  proto_member_string(r->doc, r->args, "otp", &otp, &len);
  char why[128] = "";
  auth_status st = auth_apikey_totp_check(r->pt->keys, r->pc->uid, otp, len,
                                          net_conn_now_ms(r->c) / 1000, why, sizeof(why));
  if (st == AUTH_OK) return true;
  proto_fail(r, (int)st, why);
  return false;
}

static void op_list(const request *r) {
  auth_apikey_info keys[AUTH_APIKEY_MAX_PER_UID];
  size_t count = 0;
  if (auth_apikey_list(r->pt->keys, r->pc->uid, keys, AUTH_APIKEY_MAX_PER_UID, &count) != AUTH_OK) {
    proto_fail(r, 9001, "the key store failed; see the server log");
    return;
  }
  json_writer w;
  proto_reply_begin(&w, r);
  json_write_array_begin(&w);
  for (size_t i = 0; i < count && i < AUTH_APIKEY_MAX_PER_UID; i++)
    proto_apikey_write(&w, &keys[i], NULL);
  json_write_array_end(&w);
  proto_reply_end(&w, r);
}

static void op_create(const request *r) {
  if (!otp_ok(r)) return;
  auth_apikey_info key;
  memset(&key, 0, sizeof(key));
  char why[160] = "";
  unsigned fields = proto_apikey_parse_fields(r->doc, r->args, &key, why, sizeof(why));
  if (fields == UINT32_MAX) {
    proto_fail(r, 1003, why);
    return;
  }
  if (!(fields & AUTH_APIKEY_SET_PERMISSIONS)) key.permissions = AUTH_PERM_READ;
  /* A key session may not mint a key stronger than itself. */
  if (r->pc->by_api_key && (key.permissions & ~r->pc->permissions)) {
    proto_fail(r, 3004, "a key may only create keys with permissions it has itself");
    return;
  }
  key.uid = r->pc->uid;
  key.created_ms = net_conn_now_ms(r->c);
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  auth_status st = auth_apikey_create(r->pt->shared->keys, &key, secret, why, sizeof(why));
  if (st != AUTH_OK) {
    proto_fail(r, (int)st, why);
    return;
  }
  json_writer w;
  proto_reply_begin(&w, r);
  proto_apikey_write(&w, &key, secret); /* the only time the secret is shown */
  proto_reply_end(&w, r);
}

static void op_update(const request *r, bool delete) {
  if (!otp_ok(r)) return;
  const char *key_id;
  size_t len;
  if (!proto_member_string(r->doc, r->args, "key", &key_id, &len)) {
    proto_fail(r, 1003, "missing \"key\"");
    return;
  }
  char why[160] = "";
  if (delete) {
    auth_status st =
        auth_apikey_delete(r->pt->shared->keys, r->pc->uid, key_id, len, why, sizeof(why));
    if (st != AUTH_OK)
      proto_fail(r, (int)st, why);
    else {
      json_writer w;
      proto_reply_begin(&w, r);
      json_write_bool(&w, true);
      proto_reply_end(&w, r);
    }
    return;
  }
  auth_apikey_info values, updated;
  memset(&values, 0, sizeof(values));
  unsigned fields = proto_apikey_parse_fields(r->doc, r->args, &values, why, sizeof(why));
  if (fields == UINT32_MAX || fields == 0) {
    proto_fail(r, 1003, fields == 0 ? "nothing to update: give permissions, ips or label" : why);
    return;
  }
  if (r->pc->by_api_key && (fields & AUTH_APIKEY_SET_PERMISSIONS) &&
      (values.permissions & ~r->pc->permissions)) {
    proto_fail(r, 3004, "a key may only grant permissions it has itself");
    return;
  }
  auth_status st = auth_apikey_update(r->pt->shared->keys, r->pc->uid, key_id, len, fields, &values,
                                      &updated, why, sizeof(why));
  if (st != AUTH_OK) {
    proto_fail(r, (int)st, why);
    return;
  }
  json_writer w;
  proto_reply_begin(&w, r);
  proto_apikey_write(&w, &updated, NULL);
  proto_reply_end(&w, r);
}

void proto_apikey_op(const request *r, const char *name, size_t len) {
  if (!r->pc->uid) {
    proto_fail(r, 2003, "auth required: send the auth op first");
    return;
  }
  if (len == 4 && memcmp(name, "list", 4) == 0)
    op_list(r);
  else if (len == 6 && memcmp(name, "create", 6) == 0)
    op_create(r);
  else if (len == 6 && memcmp(name, "update", 6) == 0)
    op_update(r, false);
  else if (len == 6 && memcmp(name, "delete", 6) == 0)
    op_update(r, true);
  else
    proto_fail(r, PROTO_ERR_UNKNOWN_OP,
               "unknown op: apikey.list, apikey.create, apikey.update "
               "or apikey.delete");
}
