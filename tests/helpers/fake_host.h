/* The whole fake host for test trees: cgroup paths go to the fake cgroup
 * kernel (fake_cgroup.h), everything else to the fake kernel's files and
 * NICs (fake_kernel.h). fake_root_setup() and kvmlaunch-faketree install
 * these ops. */
#ifndef KVMLAUNCH_FAKE_HOST_H
#define KVMLAUNCH_FAKE_HOST_H

#include "hostroot.h"

extern const HostRootOps fake_host_ops;

#endif
