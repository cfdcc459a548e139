/*
 * Provenance tool for specs/vectors/icao9303-11-aes-sm.json: AES secure messaging (ICAO 9303-11 §9.8,
 * BSI TR-03110 F.2) computed with OpenPACE, the reference C implementation of PACE/EAC, independently
 * of NetID's Python code. OpenPACE does the cryptography (IV = E(KSenc, SSC), AES-CBC, CMAC over
 * SSC || data); this file only assembles the data objects as ICAO 9303-11 §9.8.6 lays them out.
 *
 * Build and run (Debian: apt-get install libeac-dev):
 *   cc -o /tmp/aes_sm specs/vectors/tools/aes_sm_openpace.c -leac -lcrypto && /tmp/aes_sm
 * The session keys are the ICAO 9303-11 Appendix G.1 PACE result; the commands mirror Appendix D.4.
 * Not part of the build or the tests.
 */
#include <eac/eac.h>
#include <eac/pace.h>
#include <openssl/buffer.h>
#include <stdio.h>
#include <string.h>

static const char *CARD_ACCESS = "31143012060A04007F0007020204020202010202010D";
static const char *SHARED_SECRET = "28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925";
static const char *KS_ENC = "F5F0E35C0D7161EE6724EE513A0D9A7F";
static const char *KS_MAC = "FE251C7858B356B24514B3BD5F4297D1";

static size_t unhex(const char *h, unsigned char *out) {
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
    return n;
}
static BUF_MEM *buf(const unsigned char *p, size_t n) {
    BUF_MEM *b = BUF_MEM_new(); BUF_MEM_grow(b, n); memcpy(b->data, p, n); return b;
}
static void hex(const char *label, const unsigned char *p, size_t n) {
    printf("%s", label); for (size_t i = 0; i < n; i++) printf("%02X", p[i]); printf("\n");
}
/* ISO/IEC 9797-1 padding method 2 to 16 bytes */
static size_t pad16(const unsigned char *in, size_t n, unsigned char *out) {
    memcpy(out, in, n); out[n++] = 0x80; while (n % 16) out[n++] = 0x00; return n;
}
static size_t do87(EAC_CTX *ctx, const unsigned char *data, size_t n, unsigned char *out) {
    unsigned char padded[512]; size_t pn = pad16(data, n, padded);
    BUF_MEM *enc = EAC_encrypt(ctx, buf(padded, pn));
    size_t len = 1 + enc->length, o = 0;
    out[o++] = 0x87; out[o++] = (unsigned char)len; out[o++] = 0x01;
    memcpy(out + o, enc->data, enc->length); return o + enc->length;
}
static void mac(EAC_CTX *ctx, const unsigned char *in, size_t n, unsigned char *out8) {
    unsigned char padded[512]; size_t pn = pad16(in, n, padded);
    BUF_MEM *m = EAC_authenticate(ctx, buf(padded, pn));
    memcpy(out8, m->data, 8);
}

/* one exchange: protect the command (short case 3 or 2), then protect the chip's response */
static void exchange(EAC_CTX *ctx, const char *cmd_hex, const char *resp_data_hex) {
    unsigned char cmd[64], rdata[64], out[512], macin[512], m[8];
    size_t cn = unhex(cmd_hex, cmd), rn = unhex(resp_data_hex, rdata), o = 0, mi = 0;
    unsigned char header[4] = {0x0C, cmd[1], cmd[2], cmd[3]};
    printf("command: %s\n", cmd_hex);
    EAC_increment_ssc(ctx);
    mi = pad16(header, 4, macin);
    unsigned char body[512]; size_t bn = 0;
    if (cn > 5) { bn += do87(ctx, cmd + 5, cmd[4], body + bn); }            /* case 3: data */
    if (cn == 5) { body[bn++] = 0x97; body[bn++] = 0x01; body[bn++] = cmd[4]; } /* case 2: Le */
    memcpy(macin + mi, body, bn); mi += bn;
    mac(ctx, macin, mi, m);
    memcpy(out, header, 4); o = 4; out[o++] = (unsigned char)(bn + 10);
    memcpy(out + o, body, bn); o += bn;
    out[o++] = 0x8E; out[o++] = 0x08; memcpy(out + o, m, 8); o += 8; out[o++] = 0x00;
    hex("protected_command: ", out, o);

    EAC_increment_ssc(ctx);
    bn = 0;
    if (rn) bn += do87(ctx, rdata, rn, body);
    body[bn++] = 0x99; body[bn++] = 0x02; body[bn++] = 0x90; body[bn++] = 0x00;
    mac(ctx, body, bn, m);
    memcpy(out, body, bn); o = bn; out[o++] = 0x8E; out[o++] = 0x08; memcpy(out + o, m, 8); o += 8;
    out[o++] = 0x90; out[o++] = 0x00;
    hex("protected_response: ", out, o);
    printf("response_data: %s\n\n", resp_data_hex);
}

int main(void) {
    unsigned char ca[64], k[16];
    EAC_init();
    EAC_CTX *ctx = EAC_CTX_new();
    size_t n = unhex(CARD_ACCESS, ca);
    if (!EAC_CTX_init_ef_cardaccess(ca, n, ctx) || !ctx->pace_ctx) { fprintf(stderr, "init\n"); return 1; }
    /* OpenPACE derives the session keys itself from the G.1 shared secret (a cross-check of the KDF) */
    unsigned char z[32];
    KA_CTX *ka = ctx->pace_ctx->ka_ctx;
    ka->shared_secret = buf(z, unhex(SHARED_SECRET, z));
    if (!PACE_STEP3C_derive_keys(ctx)) { fprintf(stderr, "derive\n"); return 1; }
    unhex(KS_ENC, k);
    if (ka->k_enc->length != 16 || memcmp(ka->k_enc->data, k, 16)) { fprintf(stderr, "KSenc differs\n"); return 1; }
    unhex(KS_MAC, k);
    if (ka->k_mac->length != 16 || memcmp(ka->k_mac->data, k, 16)) { fprintf(stderr, "KSmac differs\n"); return 1; }
    /* what EAC_CTX_set_encryption_ctx(ctx, EAC_ID_PACE) does, minus its KA_CTX_dup, which this library
     * build refuses for a context that did not run the PACE steps itself */
    ctx->key_ctx = ka;
    if (!EAC_set_ssc(ctx, 0)) { fprintf(stderr, "ssc\n"); return 1; }
    /* SSC starts at 0 after PACE (ICAO 9303-11 §9.8.3) */
    exchange(ctx, "00A4020C02011E", "");
    exchange(ctx, "00B0000004", "60145F01");
    exchange(ctx, "00B0000412", "04303130365F36063034303030305C026175");
    EAC_cleanup();
    return 0;
}
