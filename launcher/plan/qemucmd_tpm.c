/* [tpm] on QEMU's command line, and swtpm's (include/tpm.h). Pure: no I/O
 * but tpm_find_swtpm, which the probe calls. */
#include "tpm.h"

#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "qemucmd.h"
#include "statedir.h"
#include "util.h"

char *tpm_find_swtpm(bool honour_env) {
    const char *env = honour_env ? getenv("KVMLAUNCH_SWTPM") : NULL;
    if (env && *env) return env[0] == '/' && access(env, X_OK) == 0 ? xstrdup(env) : NULL;
    static const char *const paths[] = TPM_SWTPM_PATHS;
    for (size_t i = 0; i < ELEMENTSOF(paths); i++)
        if (access(paths[i], X_OK) == 0) return xstrdup(paths[i]);
    return NULL;
}

char *tpm_state_path(const VmConfig *cfg) {
    _cleanup_free_ char *dir = statedir_path(cfg);
    return xasprintf("%s/%s", dir, TPM_STATE_SUBDIR);
}

void qemucmd_tpm(const VmConfig *cfg, const HostFacts *facts, StrVec *argv, ErrList *errors) {
    if (!cfg->tpm.enabled) return;
    /* swtpm splits its options at commas and has no escape for them. */
    _cleanup_free_ char *dir = tpm_state_path(cfg);
    if (strchr(dir, ','))
        errlist_add_key(errors, cfg->path, SECTION_TPM, &cfg->tpm.head, "enabled",
                        "expected a state dir without a comma for swtpm's --tpmstate, found %s", dir);
    /* The control channel: a connected socket QEMU is handed; it passes
     * swtpm the data channel over it (CMD_SET_DATAFD). */
    strvec_push(argv, "-chardev");
    strvec_pushf(argv, "socket,id=chrtpm,fd=%d", facts->tpm_fd);
    strvec_push(argv, "-tpmdev");
    strvec_push(argv, "emulator,id=tpm0,chardev=chrtpm");
    /* CRB is what TPM 2.0 guests expect on q35 (and what libvirt picks);
     * pc's ISA bus takes the TIS interface. */
    json_object *dev = json_object_new_object();
    json_object_object_add(dev, "driver", json_object_new_string(cfg->vm.machine == MACHINE_Q35 ? "tpm-crb" : "tpm-tis"));
    json_object_object_add(dev, "tpmdev", json_object_new_string("tpm0"));
    json_object_object_add(dev, "id", json_object_new_string("tpm0-dev"));
    strvec_push(argv, "-device");
    strvec_push(argv, json_object_to_json_string_ext(dev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(dev);
}

void tpm_swtpm_argv(const VmConfig *cfg, const HostFacts *facts, StrVec *argv) {
    _cleanup_free_ char *dir = tpm_state_path(cfg);
    strvec_push(argv, facts->swtpm ? facts->swtpm : "swtpm");
    strvec_push(argv, "socket");
    strvec_push(argv, "--tpm2");
    /* Its files 0600 (swtpm's default is 0640) in the user's 0700 dir. */
    strvec_push(argv, "--tpmstate");
    strvec_pushf(argv, "dir=%s,mode=0600", dir);
    strvec_push(argv, "--ctrl");
    strvec_pushf(argv, "type=unixio,clientfd=%d", TPM_SWTPM_CTRL_FD);
    /* QEMU gone, the control connection is lost: swtpm ends. */
    strvec_push(argv, "--terminate");
}

char *tpm_render_plan(const VmConfig *cfg, const HostFacts *facts) {
    if (!cfg->tpm.enabled) return xstrdup("");
    _cleanup_free_ char *dir = tpm_state_path(cfg);
    StrVec sw = STRVEC_INIT, quoted = STRVEC_INIT;
    tpm_swtpm_argv(cfg, facts, &sw);
    /* One line: qemucmd_render pairs QEMU's options with their values,
     * which swtpm's flags (--tpm2, --terminate) do not have. */
    for (size_t i = 0; i < sw.n; i++) strvec_push_take(&quoted, shell_quote(sw.v[i]));
    _cleanup_free_ char *cmd = strvec_join(&quoted, " ");
    strvec_clear(&quoted);
    char *text = xasprintf("# tpm: TPM 2.0 (%s) from %s as %s, no capabilities, on the emulator's CPUs and cgroup; state in %s; "
                           "control socket fd %d for swtpm, fd %d for QEMU\n# swtpm command line:\n%s\n",
                           cfg->vm.machine == MACHINE_Q35 ? "tpm-crb" : "tpm-tis", facts->swtpm ? facts->swtpm : "swtpm (not found)",
                           cfg->vm.user ? cfg->vm.user : "kvmlaunch's user", dir, TPM_SWTPM_CTRL_FD, facts->tpm_fd, cmd);
    strvec_clear(&sw);
    return text;
}
