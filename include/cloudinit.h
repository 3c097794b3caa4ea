/* [cloud-init]: the NoCloud seed a run makes (CONFIG.md). The contents are
 * a pure function of the VM definition and the bytes of the files it names
 * (launcher/plan/cloudinit.c); the run reads those files as the user who
 * asked for it, writes the ISO 9660 volume "cidata" with libisofs into the
 * runtime dir and hands QEMU a read-only descriptor of it
 * (launcher/vm/cloudinit_seed.c). The runtime dir's removal takes it away. */
#ifndef KVMLAUNCH_CLOUDINIT_H
#define KVMLAUNCH_CLOUDINIT_H

#include <stdbool.h>
#include <stddef.h>

#include "hostfacts.h"
#include "runtime.h"
#include "vmconf.h"

/* The seed's file in the runtime dir, and the file `kvmlaunch ssh` reads
 * the user and the private key from. */
#define CLOUDINIT_SEED_FILE "cidata.iso"
#define CLOUDINIT_SSH_FILE "ssh"

/* Largest files read into the seed: far above any real one. */
#define CLOUDINIT_MAX_USER_DATA (16u << 20)
#define CLOUDINIT_MAX_FILE (1u << 20)

/* A file's bytes (not NUL-terminated text: a user-data file may be gzip). */
typedef struct Blob {
    char *data;                     /* owned; NULL: not there */
    size_t size;
} Blob;

/* What the seed is made of: the files [cloud-init] names, read. */
typedef struct CloudInitInputs {
    Blob ssh_key;                   /* the .pub */
    Blob user_data;                 /* the user-data file taken as is */
    Blob network_config;
} CloudInitInputs;

/* The seed's files, as they go into the volume. */
typedef struct CloudInitSeed {
    char instance_id[64];
    Blob meta_data, user_data, network_config; /* network_config.data NULL: none */
} CloudInitSeed;

static inline bool cloudinit_wanted(const VmConfig *cfg) { return cfg->cloudinit.head.line != 0; }

/* [cloud-init] hostname, or the VM's name with each _ made - (a host name
 * has no _). Caller frees. */
char *cloudinit_hostname(const VmConfig *cfg);
/* 0 when NAME is a host name (letters, digits, - and ., 1-63 bytes, no -
 * or . first or last), else -EINVAL with ERR (VALUE_ERR_MAX). */
int cloudinit_check_hostname(const char *name, char *err);
/* The private key beside the public one: KEY without .pub; NULL when KEY
 * does not end in .pub. Caller frees. */
char *cloudinit_private_key(const char *pub);

/* The public keys of a .pub's bytes: each non-empty line that is no
 * comment, as it is. -EINVAL with ERR when a line has a control byte or
 * there is no key; else the count, with *keys (strv, caller frees). */
int cloudinit_parse_pubkeys(const Blob *pub, char ***keys, char *err);

/* A shared folder the generated user-data mounts at /mnt/TAG. */
typedef struct CloudInitMount {
    const char *tag;                /* [share "TAG"]: letters, digits, _ and - */
    bool virtiofs;                  /* else 9p over virtio */
    bool readonly;
} CloudInitMount;

/* The [share] sections as CloudInitMounts, each with the driver FACTS
 * give it (share.h; 9p when FACTS is NULL and none is written); *out:
 * caller frees the array, the strings are CFG's. The one place the seed
 * learns of shares. */
size_t cloudinit_mounts(const VmConfig *cfg, const HostFacts *facts, CloudInitMount **out);

/* The generated user-data: "#cloud-config", then users: with [cloud-init]
 * user (sudo without a password, bash, KEYS authorized), or, without a
 * user, ssh_authorized_keys: for the image's default user; then bootcmd:
 * mounting each of MOUNTS at /mnt/TAG on every boot, before sshd starts.
 * A user-data file replaces all of it. Caller frees. */
char *cloudinit_user_data(const VmConfig *cfg, char *const *keys, const CloudInitMount *mounts, size_t n_mounts);

/* The seed of CFG from IN: meta-data with an instance-id that is a hash
 * of everything in the seed (it changes when any input does) and
 * local-hostname; user-data generated or IN's file; network-config when
 * given. -EINVAL with ERR when the .pub holds no usable key. */
int cloudinit_seed_build(const VmConfig *cfg, const HostFacts *facts, const CloudInitInputs *in, CloudInitSeed *seed, char *err);
void cloudinit_seed_free(CloudInitSeed *seed);
void cloudinit_inputs_free(CloudInitInputs *in);

/* Writes SEED as an ISO 9660 volume labelled cidata (Rock Ridge and
 * Joliet, so meta-data, user-data and network-config keep their names)
 * to FD. 0 or -errno (said). */
int cloudinit_iso_write(int fd, const CloudInitSeed *seed);

/* Reads the files [cloud-init] names, as the caller (caller.h). 0 or
 * -errno, said with the key and path. */
int cloudinit_read_inputs(const VmConfig *cfg, CloudInitInputs *in);

/* The run's step: reads the inputs, builds the seed, writes it to
 * RT's dir and the ssh file beside it (when there is an ssh-key).
 * Returns a read-only descriptor of the seed for QEMU, or -errno (said). */
int cloudinit_seed_prepare(const VmConfig *cfg, const HostFacts *facts, const Runtime *rt);

#endif
