/* The fake host (fake_host.h): one ops table over the two fakes. */
#include "fake_host.h"

#include "fake_cgroup.h"
#include "fake_kernel.h"

static int host_write(const HostRoot *hr, const char *path, const char *value) {
    return fake_cgroup_owns(hr, path) ? fake_cgroup_write(hr, path, value) : fake_kernel_write(hr, path, value);
}

static int host_mkdir(const HostRoot *hr, const char *path, mode_t mode) {
    return fake_cgroup_owns(hr, path) ? fake_cgroup_mkdir(hr, path, mode) : fake_kernel_mkdir(hr, path, mode);
}

static int host_rmdir(const HostRoot *hr, const char *path) {
    return fake_cgroup_owns(hr, path) ? fake_cgroup_rmdir(hr, path) : fake_kernel_rmdir(hr, path);
}

const HostRootOps fake_host_ops = {
    .write = host_write,
    .mkdir = host_mkdir,
    .rmdir = host_rmdir,
    .ethtool = fake_kernel_ethtool,
    .affinity = fake_kernel_affinity,
    .migrate_pages = fake_kernel_migrate_pages,
};
