/* [share "TAG"]: QEMU's arguments and the driver choice (include/share.h).
 * Pure: no I/O but share_find_virtiofsd, which the probe calls. */
#include "share.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemucmd.h"
#include "schema.h"
#include "util.h"

char *share_find_virtiofsd(bool honour_env) {
    const char *env = honour_env ? getenv("KVMLAUNCH_VIRTIOFSD") : NULL;
    if (env && *env) return env[0] == '/' && access(env, X_OK) == 0 ? xstrdup(env) : NULL;
    static const char *const paths[] = SHARE_VIRTIOFSD_PATHS;
    for (size_t i = 0; i < ELEMENTSOF(paths); i++)
        if (access(paths[i], X_OK) == 0) return xstrdup(paths[i]);
    return NULL;
}

ShareDriver share_driver(const HostFacts *facts, const ShareSection *sh) {
    if (sh->driver != SHARE_DRIVER_DEFAULT) return (ShareDriver)sh->driver;
    /* virtiofsd 7.2's sandboxes need root (include/share.h). */
    return facts->virtiofsd && facts->running_as_root ? SHARE_DRIVER_VIRTIOFS : SHARE_DRIVER_9P;
}

bool share_needs_shared_ram(const VmConfig *cfg, const HostFacts *facts) {
    for (size_t i = 0; i < cfg->n_shares; i++)
        if (share_driver(facts, &cfg->shares[i]) == SHARE_DRIVER_VIRTIOFS) return true;
    return false;
}

char *share_socket_path(const char *runtime_dir, size_t index) { return xasprintf("%s/vfs-%zu.sock", runtime_dir, index); }
char *share_root_path(const char *runtime_dir, size_t index) { return xasprintf("%s/vfs-%zu.root", runtime_dir, index); }

/* The RAM backend as add_memory writes it once virtiofs needs it shared. */
static const char *shared_backend(const MemorySection *mem) {
    if (mem->backing == BACKING_HUGEPAGES && mem->hugepage_path) return "memory-backend-file mem-path=HUGEPAGE-PATH share=on";
    if (mem->backing == BACKING_HUGEPAGES) return "memory-backend-memfd hugetlb=on share=on";
    return "memory-backend-memfd share=on";
}

static void push_json(StrVec *argv, const char *option, json_object *o) {
    strvec_push(argv, option);
    strvec_push(argv, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* virtiofs where it cannot run, asked for in so many words, is an error;
 * the default chose 9p then already. */
static bool virtiofs_possible(const VmConfig *cfg, const HostFacts *facts, const ShareSection *sh, ErrList *errors) {
    if (!facts->virtiofsd) {
        errlist_add_key(errors, cfg->path, SECTION_SHARE, &sh->head, "driver",
                        "expected a virtiofsd for driver = virtiofs (/usr/lib/qemu/virtiofsd, package qemu-system-common), found none "
                        "(or use driver = 9p)");
        return false;
    }
    if (!facts->running_as_root) {
        errlist_add_key(errors, cfg->path, SECTION_SHARE, &sh->head, "driver",
                        "expected kvmlaunch to run as root for driver = virtiofs (virtiofsd's sandbox needs it), found uid %ld "
                        "(or use driver = 9p)", (long)geteuid());
        return false;
    }
    return true;
}

static void add_9p(const VmConfig *cfg, const ShareSection *sh, bool pci, StrVec *argv) {
    (void)cfg;
    const char *tag = sh->head.id;
    /* -fsdev takes no JSON in QEMU 7.2: keyval, the path's commas doubled.
     * security_model=none: QEMU (as [vm] user) makes files as itself. */
    _cleanup_free_ char *path = qemu_escape_keyval(sh->path);
    strvec_push(argv, "-fsdev");
    strvec_pushf(argv, "local,id=fs-%s,path=%s,security_model=none%s", tag, path, sh->readonly ? ",readonly=on" : "");
    json_object *d = json_object_new_object();
    json_object_object_add(d, "driver", json_object_new_string(pci ? "virtio-9p-pci" : "virtio-9p-device"));
    _cleanup_free_ char *id = xasprintf("share-%s", tag), *fsdev = xasprintf("fs-%s", tag);
    json_object_object_add(d, "id", json_object_new_string(id));
    json_object_object_add(d, "fsdev", json_object_new_string(fsdev));
    json_object_object_add(d, "mount_tag", json_object_new_string(tag));
    push_json(argv, "-device", d);
}

static void add_virtiofs(const ShareSection *sh, int fd, bool pci, StrVec *argv) {
    const char *tag = sh->head.id;
    /* QEMU gets a socket already connected to virtiofsd: it never needs to
     * reach the runtime dir, which is root's. */
    strvec_push(argv, "-chardev");
    strvec_pushf(argv, "socket,id=vfs-%s,fd=%d", tag, fd);
    json_object *d = json_object_new_object();
    json_object_object_add(d, "driver", json_object_new_string(pci ? "vhost-user-fs-pci" : "vhost-user-fs-device"));
    _cleanup_free_ char *id = xasprintf("share-%s", tag), *chardev = xasprintf("vfs-%s", tag);
    json_object_object_add(d, "id", json_object_new_string(id));
    json_object_object_add(d, "chardev", json_object_new_string(chardev));
    json_object_object_add(d, "tag", json_object_new_string(tag));
    push_json(argv, "-device", d);
}

void qemucmd_add_shares(const VmConfig *cfg, const HostFacts *facts, StrVec *argv, ErrList *errors, ErrList *notes) {
    bool pci = cfg->vm.machine != MACHINE_MICROVM;
    const ShareSection *first_vfs = NULL;
    for (size_t i = 0; i < cfg->n_shares; i++) {
        const ShareSection *sh = &cfg->shares[i];
        if (share_driver(facts, sh) == SHARE_DRIVER_9P) {
            add_9p(cfg, sh, pci, argv);
            continue;
        }
        if (!virtiofs_possible(cfg, facts, sh, errors)) continue;
        int fd = i < facts->n_share_fd ? facts->share_fd[i] : -1;
        if (fd < 0) {
            errlist_add_key(errors, cfg->path, SECTION_SHARE, &sh->head, "driver", "expected a virtiofsd connection to pass to QEMU, found none");
            continue;
        }
        if (!first_vfs) first_vfs = sh;
        add_virtiofs(sh, fd, pci, argv);
    }
    if (!first_vfs) return;
    /* vhost-user maps the guest's RAM into virtiofsd: it must be a shared
     * fd. kvmlaunch arranges it (add_memory; --dry-run says so); only a
     * written "share = no" stands in the way, and an explicit word is not
     * overridden behind the user's back. */
    const MemorySection *mem = &cfg->memory;
    if (section_key_set(SECTION_MEMORY, &mem->head, "share") && !mem->share)
        errlist_add_key(errors, cfg->path, SECTION_MEMORY, &mem->head, "share",
                        "expected yes (or no share key) for [share \"%s\"] with virtiofs, which maps the guest's RAM into virtiofsd, found no "
                        "(or use driver = 9p)", first_vfs->head.id);
    (void)notes;
}

char *share_render_plan(const VmConfig *cfg, const HostFacts *facts) {
    StrVec lines = STRVEC_INIT;
    const char *rt = facts->runtime_dir ? facts->runtime_dir : "RUNTIME-DIR";
    for (size_t i = 0; i < cfg->n_shares; i++) {
        const ShareSection *sh = &cfg->shares[i];
        const char *ro = sh->readonly ? ", read-only" : "";
        if (share_driver(facts, sh) == SHARE_DRIVER_9P) {
            strvec_pushf(&lines, "# share \"%s\": %s over 9p%s, served by QEMU as %s (security_model=none: files land as that user)\n",
                         sh->head.id, sh->path, ro, cfg->vm.user ? cfg->vm.user : "kvmlaunch's user");
            continue;
        }
        _cleanup_free_ char *sock = share_socket_path(rt, i);
        int fd = i < facts->n_share_fd ? facts->share_fd[i] : -1;
        strvec_pushf(&lines,
                     "# share \"%s\": %s over virtiofs%s%s, served by %s as root (sandbox=namespace; files land as the guest's uid and gid), "
                     "on the emulator's CPUs and cgroup; socket %s (fd %d for QEMU)\n",
                     sh->head.id, sh->path, ro, sh->readonly ? " (a read-only bind mount in virtiofsd's own mount namespace)" : "",
                     facts->virtiofsd ? facts->virtiofsd : "virtiofsd", sock, fd);
    }
    if (share_needs_shared_ram(cfg, facts))
        strvec_pushf(&lines, "# guest RAM shareable for virtiofs: %s\n", shared_backend(&cfg->memory));
    char *text = strvec_join(&lines, "");
    strvec_clear(&lines);
    return text;
}
