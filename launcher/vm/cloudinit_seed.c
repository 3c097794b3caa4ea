/* The NoCloud seed of a run (include/cloudinit.h): the files [cloud-init]
 * names read as the user who asked for the run, the ISO 9660 volume
 * written with libisofs, the library xorriso is built on (an own writer
 * would have to get ISO 9660, Rock Ridge and Joliet right; libisofs has
 * for years), and the descriptor QEMU gets. */
#include "cloudinit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
/* struct burn_source from libisofs.h itself: we read the image, no libburn. */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>
#pragma GCC diagnostic pop

#include "caller.h"
#include "log.h"
#include "util.h"
#include "values.h"

#define SECTOR 2048

/* One file of the volume, from a copy of BLOB (the stream frees it). */
static int add_file(IsoImage *image, const char *name, const Blob *blob) {
    unsigned char *buf = xmalloc(blob->size ? blob->size : 1);
    memcpy(buf, blob->data, blob->size);
    IsoStream *stream;
    int r = iso_memory_stream_new(buf, blob->size, &stream);
    if (r < 0) {
        free(buf);
        return r;
    }
    IsoFile *file;
    /* The new file takes the stream's reference; when it is not made,
     * the reference stays ours. */
    r = iso_image_add_new_file(image, iso_image_get_root(image), name, stream, &file);
    if (r < 0) {
        iso_stream_unref(stream);
        return r;
    }
    /* Rock Ridge carries these: root's files, readable by all, as
     * cloud-localds makes them. */
    iso_node_set_permissions((IsoNode *)file, 0444);
    iso_node_set_uid((IsoNode *)file, 0);
    iso_node_set_gid((IsoNode *)file, 0);
    return 0;
}

static int write_all(int fd, const unsigned char *buf, size_t n) {
    while (n) {
        ssize_t k = write(fd, buf, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

int cloudinit_iso_write(int fd, const CloudInitSeed *seed) {
    /* libisofs counts its users: init and finish pair up. bit0: keep the
     * locale as it is. */
    if (iso_init_with_flag(1) < 0) return log_error_errno(-ENOMEM, "libisofs failed to start");
    iso_set_msgs_severities("NEVER", "FATAL", "libisofs: ");
    IsoImage *image = NULL;
    IsoWriteOpts *opts = NULL;
    struct burn_source *src = NULL;
    int r = iso_image_new("cidata", &image);
    if (r >= 0) r = add_file(image, "meta-data", &seed->meta_data);
    if (r >= 0) r = add_file(image, "user-data", &seed->user_data);
    if (r >= 0 && seed->network_config.data) r = add_file(image, "network-config", &seed->network_config);
    if (r >= 0) r = iso_write_opts_new(&opts, 0);
    /* ISO level 1 names (META_DAT.;1) would not do: Rock Ridge gives
     * Linux, Joliet gives other readers the names as they are. */
    if (r >= 0) r = iso_write_opts_set_rockridge(opts, 1);
    if (r >= 0) r = iso_write_opts_set_joliet(opts, 1);
    /* Joliet names without ";1" and without the dot ISO 9660 forces on a
     * name with no extension, so they too read back exactly (Linux drops
     * both anyway); the ISO 9660 names keep theirs, as ECMA-119 has it. */
    if (r >= 0) r = iso_write_opts_set_omit_version_numbers(opts, 2);
    if (r >= 0) r = iso_write_opts_set_no_force_dots(opts, 2);
    if (r >= 0) r = iso_image_create_burn_source(image, opts, &src);
    int err = 0;
    if (r < 0) {
        log_error("libisofs could not make the seed: error 0x%x", (unsigned)r);
        err = -EIO;
    } else {
        unsigned char buf[SECTOR];
        int n;
        /* Read to the end even after a failed write: the generator thread
         * stops only at the end or on cancel. */
        while ((n = src->read_xt(src, buf, SECTOR)) > 0)
            if (!err) err = write_all(fd, buf, (size_t)n);
        if (n < 0 && !err) err = -EIO;
        if (err) log_error_errno(err, "Failed to write the cloud-init seed: %m");
        src->free_data(src);
        free(src);
    }
    if (opts) iso_write_opts_free(opts);
    if (image) iso_image_unref(image);
    iso_finish();
    return err;
}

/* Reads PATH (of KEY) whole, as the caller, into B. */
static int read_input(const char *key, const char *path, size_t max, Blob *b) {
    _cleanup_free_ char *who = NULL;
    _cleanup_close_ int fd = caller_open_file(path, &who);
    if (fd < 0) return log_error_errno(fd, "[cloud-init] %s: cannot open %s%s%s: %m", key, path, who ? " as " : "", who ? who : "");
    struct stat st;
    if (fstat(fd, &st) < 0) return log_error_errno(-errno, "[cloud-init] %s: cannot stat %s: %m", key, path);
    if (!S_ISREG(st.st_mode)) return log_error_errno(-EINVAL, "[cloud-init] %s: %s is not a regular file", key, path);
    if ((uint64_t)st.st_size > max) return log_error_errno(-EFBIG, "[cloud-init] %s: %s is larger than %zu bytes", key, path, max);
    b->data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, b->data + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return log_error_errno(-errno, "[cloud-init] %s: cannot read %s: %m", key, path);
        if (k == 0) break;
        got += (size_t)k;
    }
    b->size = got;
    b->data[got] = '\0';
    return 0;
}

int cloudinit_read_inputs(const VmConfig *cfg, CloudInitInputs *in) {
    const CloudInitSection *ci = &cfg->cloudinit;
    memset(in, 0, sizeof(*in));
    int r = 0;
    if (ci->ssh_key) r = read_input("ssh-key", ci->ssh_key, CLOUDINIT_MAX_FILE, &in->ssh_key);
    if (r == 0 && ci->user_data) r = read_input("user-data", ci->user_data, CLOUDINIT_MAX_USER_DATA, &in->user_data);
    if (r == 0 && ci->network_config) r = read_input("network-config", ci->network_config, CLOUDINIT_MAX_FILE, &in->network_config);
    if (r < 0) cloudinit_inputs_free(in);
    return r;
}

/* "user USER\nkey PRIVATE\n": what `kvmlaunch ssh NAME` needs and cannot
 * get from the NAME alone. */
static int write_ssh_file(const VmConfig *cfg, const Runtime *rt) {
    const CloudInitSection *ci = &cfg->cloudinit;
    _cleanup_free_ char *priv = ci->ssh_key ? cloudinit_private_key(ci->ssh_key) : NULL;
    if (!priv) return 0;
    _cleanup_free_ char *text = xasprintf("user %s\nkey %s\n", ci->user ? ci->user : "", priv);
    _cleanup_close_ int fd = openat(rt->dir_fd, CLOUDINIT_SSH_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return log_error_errno(-errno, "Failed to create %s/%s: %m", rt->dir, CLOUDINIT_SSH_FILE);
    int r = write_all(fd, (const unsigned char *)text, strlen(text));
    if (r < 0) return log_error_errno(r, "Failed to write %s/%s: %m", rt->dir, CLOUDINIT_SSH_FILE);
    return 0;
}

int cloudinit_seed_prepare(const VmConfig *cfg, const HostFacts *facts, const Runtime *rt) {
    CloudInitInputs in;
    int r = cloudinit_read_inputs(cfg, &in);
    if (r < 0) return r;
    CloudInitSeed seed;
    char err[VALUE_ERR_MAX];
    r = cloudinit_seed_build(cfg, facts, &in, &seed, err);
    cloudinit_inputs_free(&in);
    if (r < 0) return log_error_errno(r, "[cloud-init] ssh-key: %s: %s", cfg->cloudinit.ssh_key, err);
    /* In the runtime dir, root's and private: QEMU never opens it by name,
     * it gets a read-only descriptor (the block node is read-only too). */
    int wfd = openat(rt->dir_fd, CLOUDINIT_SEED_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (wfd < 0) {
        r = log_error_errno(-errno, "Failed to create %s/%s: %m", rt->dir, CLOUDINIT_SEED_FILE);
    } else {
        r = cloudinit_iso_write(wfd, &seed);
        if (close(wfd) < 0 && r == 0) r = log_error_errno(-errno, "Failed to write %s/%s: %m", rt->dir, CLOUDINIT_SEED_FILE);
    }
    if (r == 0) log_debug("cloud-init seed %s/%s: instance-id %s", rt->dir, CLOUDINIT_SEED_FILE, seed.instance_id);
    cloudinit_seed_free(&seed);
    if (r == 0) r = write_ssh_file(cfg, rt);
    if (r < 0) return r;
    int fd = openat(rt->dir_fd, CLOUDINIT_SEED_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return log_error_errno(-errno, "Failed to open %s/%s: %m", rt->dir, CLOUDINIT_SEED_FILE);
    return fd;
}
