/* test_ws_frame.c: RFC 6455 frame parsing, writing, unmasking, UTF-8, keys. */
#include "bourse/ws.h"
#include "check.h"

static void test_parse(void) {
  ws_frame f;
  const uint8_t small[] = {0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1};
  for (size_t n = 0; n < 6; n++) CHECK_EQ_INT(ws_frame_parse(small, n, &f), 0);
  CHECK_EQ_INT(ws_frame_parse(small, sizeof(small), &f), 6);
  CHECK(f.fin && f.opcode == WS_OP_TEXT && f.masked && f.payload_len == 5);
  uint8_t payload[5];
  memcpy(payload, small + 6, 5);
  ws_unmask(payload, 5, f.mask, 0);
  CHECK(memcmp(payload, "hello", 5) == 0);

  const uint8_t medium[] = {0x01, 0xFE, 0x01, 0x00, 0, 0, 0, 0};
  CHECK_EQ_INT(ws_frame_parse(medium, sizeof(medium), &f), 8);
  CHECK(!f.fin && f.payload_len == 256);
  const uint8_t large[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 9, 9, 9, 9};
  CHECK_EQ_INT(ws_frame_parse(large, sizeof(large), &f), 14);
  CHECK(f.payload_len == 65536 && f.opcode == WS_OP_BINARY);

  static const struct {
    uint8_t b0, b1;
  } bad[] = {
      {0x81, 0x05},       /* unmasked */
      {0xC1, 0x85},       /* RSV1 */
      {0xA1, 0x85},       /* RSV2 */
      {0x91, 0x85},       /* RSV3 */
      {0x83, 0x85},       /* opcode 3 */
      {0x87, 0x85},       /* opcode 7 */
      {0x8B, 0x85},       /* opcode 0xB */
      {0x8F, 0x85},       /* opcode 0xF */
      {0x09, 0x80},       /* fragmented ping */
      {0x89, 0x80 | 126}, /* ping longer than 125 */
      {0x88, 0x80 | 127}, /* close with 64-bit length */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint8_t frame[14] = {bad[i].b0, bad[i].b1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(ws_frame_parse(frame, sizeof(frame), &f), -WS_CLOSE_PROTOCOL_ERROR);
  }
  const uint8_t top_bit[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  CHECK_EQ_INT(ws_frame_parse(top_bit, sizeof(top_bit), &f), -WS_CLOSE_PROTOCOL_ERROR);
}

static void test_header_write(void) {
  uint8_t h[WS_MAX_SERVER_HEADER];
  CHECK_EQ_INT(ws_frame_header_write(h, WS_OP_TEXT, 125), 2);
  CHECK(h[0] == 0x81 && h[1] == 125);
  CHECK_EQ_INT(ws_frame_header_write(h, WS_OP_TEXT, 126), 4);
  CHECK(h[1] == 126 && h[2] == 0 && h[3] == 126);
  CHECK_EQ_INT(ws_frame_header_write(h, WS_OP_PONG, 65535), 4);
  CHECK(h[0] == 0x8A && h[2] == 0xFF && h[3] == 0xFF);
  CHECK_EQ_INT(ws_frame_header_write(h, WS_OP_TEXT, 65536), 10);
  CHECK(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
  CHECK_EQ_INT(ws_frame_header_len(0), 2);
  CHECK_EQ_INT(ws_frame_header_len(70000), 10);
}

static void test_unmask_pieces(void) {
  uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78}, a[37], b[37];
  for (int i = 0; i < 37; i++) a[i] = b[i] = (uint8_t)(i * 7);
  ws_unmask(a, 37, mask, 0);
  ws_unmask(b, 5, mask, 0);
  ws_unmask(b + 5, 13, mask, 5);
  ws_unmask(b + 18, 19, mask, 18);
  CHECK(memcmp(a, b, 37) == 0);
  for (int i = 0; i < 37; i++) CHECK_EQ_INT(a[i], (uint8_t)(i * 7) ^ mask[i % 4]);
}

static bool utf8_ok(const char *s, size_t n) {
  uint32_t st = WS_UTF8_ACCEPT;
  return ws_utf8_feed(&st, (const uint8_t *)s, n) && st == WS_UTF8_ACCEPT;
}

static void test_utf8(void) {
  CHECK(utf8_ok("plain ascii text, long enough for the 8-byte path", 50));
  CHECK(utf8_ok("\x7f", 1));
  CHECK(utf8_ok("\xc2\x80", 2));          /* U+0080 */
  CHECK(utf8_ok("\xdf\xbf", 2));          /* U+07FF */
  CHECK(utf8_ok("\xe0\xa0\x80", 3));      /* U+0800 */
  CHECK(utf8_ok("\xef\xbf\xbf", 3));      /* U+FFFF */
  CHECK(utf8_ok("\xf0\x90\x80\x80", 4));  /* U+10000 */
  CHECK(utf8_ok("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
  CHECK(!utf8_ok("\xc0\x80", 2));         /* overlong NUL */
  CHECK(!utf8_ok("\xe0\x9f\xbf", 3));     /* overlong */
  CHECK(!utf8_ok("\xed\xa0\x80", 3));     /* surrogate */
  CHECK(!utf8_ok("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
  CHECK(!utf8_ok("\x80", 1));             /* stray continuation */
  CHECK(!utf8_ok("\xf5\x80\x80\x80", 4));
  CHECK(!utf8_ok("\xe2\x82", 2)); /* cut off: feed ok, state not accept */
  uint32_t st = WS_UTF8_ACCEPT;
  CHECK(ws_utf8_feed(&st, (const uint8_t *)"\xe2\x82", 2)); /* valid so far */
  CHECK(st != WS_UTF8_ACCEPT);
  CHECK(ws_utf8_feed(&st, (const uint8_t *)"\xac", 1)); /* completes the euro sign */
  CHECK(st == WS_UTF8_ACCEPT);
  st = WS_UTF8_ACCEPT;
  CHECK(!ws_utf8_feed(&st, (const uint8_t *)"ok\xed\xa0", 4)); /* fails fast, mid-sequence */
}

static void test_close_codes_and_keys(void) {
  CHECK(ws_close_code_valid(1000) && ws_close_code_valid(1003) && ws_close_code_valid(1007));
  CHECK(ws_close_code_valid(1011) && ws_close_code_valid(3000) && ws_close_code_valid(4999));
  unsigned bad[] = {0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) CHECK(!ws_close_code_valid(bad[i]));
  /* RFC 6455 section 1.3's example. */
  char accept[WS_ACCEPT_LEN];
  CHECK_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept), 0);
  CHECK_EQ_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZR==", 24)); /* 17th byte bits set */
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub2!jZQ==", 24));
}

int main(void) {
  test_parse();
  test_header_write();
  test_unmask_pieces();
  test_utf8();
  test_close_codes_and_keys();
  return check_report("ws_frame");
}
