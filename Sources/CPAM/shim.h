#ifndef POSTAMT_CPAM_SHIM_H
#define POSTAMT_CPAM_SHIM_H
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

/*
 * PAM's conversation callback, in C because PAM calls it with C arrays it owns.
 * It answers a hidden prompt (PAM_PROMPT_ECHO_OFF) with the password and a visible one
 * (PAM_PROMPT_ECHO_ON) with the user name; messages (PAM_ERROR_MSG, PAM_TEXT_INFO) get no answer.
 * Anything else (binary prompts) fails the conversation. Responses are malloc'd: PAM frees them.
 */
struct postamt_pam_credentials {
    const char *user;
    const char *password;
};

static inline void postamt_pam_free_responses(struct pam_response *reply, int count) {
    for (int i = 0; i < count; i++) {
        if (reply[i].resp) {
            explicit_bzero(reply[i].resp, strlen(reply[i].resp));
            free(reply[i].resp);
        }
    }
    free(reply);
}

static inline int postamt_pam_converse(int count, const struct pam_message **messages,
                                       struct pam_response **responses, void *data) {
    const struct postamt_pam_credentials *credentials = data;
    if (count <= 0 || count > PAM_MAX_NUM_MSG || credentials == NULL) return PAM_CONV_ERR;
    struct pam_response *reply = calloc((size_t)count, sizeof *reply);
    if (reply == NULL) return PAM_BUF_ERR;
    for (int i = 0; i < count; i++) {
        const char *answer;
        switch (messages[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF: answer = credentials->password; break;
        case PAM_PROMPT_ECHO_ON: answer = credentials->user; break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO: continue;
        default: postamt_pam_free_responses(reply, count); return PAM_CONV_ERR;
        }
        reply[i].resp = strdup(answer);
        if (reply[i].resp == NULL) { postamt_pam_free_responses(reply, count); return PAM_BUF_ERR; }
    }
    *responses = reply;
    return PAM_SUCCESS;
}

/* Replaces PAM's own failure delay (pam_unix asks for 2 s): postamt-auth delays failed
 * answers itself, in the serving process, without holding a worker. */
static inline void postamt_pam_no_delay(int status, unsigned int microseconds, void *data) {
    (void)status; (void)microseconds; (void)data;
}

/* pam_start with our conversation (Linux-PAM copies the pam_conv struct; `credentials` must
 * live until pam_end), then the failure delay override. */
static inline int postamt_pam_begin(const char *service, const char *user,
                                    const struct postamt_pam_credentials *credentials,
                                    pam_handle_t **handle) {
    struct pam_conv conversation = { postamt_pam_converse, (void *)credentials };
    int rc = pam_start(service, user, &conversation, handle);
    if (rc != PAM_SUCCESS) return rc;
    void (*no_delay)(int, unsigned int, void *) = postamt_pam_no_delay;
    return pam_set_item(*handle, PAM_FAIL_DELAY, (const void *)no_delay);
}

/* The user name after authentication (a module may have canonicalised it), or NULL. */
static inline const char *postamt_pam_user(pam_handle_t *handle) {
    const void *item = NULL;
    if (pam_get_item(handle, PAM_USER, &item) != PAM_SUCCESS) return NULL;
    return item;
}

#endif
