/* Accessors of the model (VmConfig): its sections by kind and index, their
 * labels and the lines of their keys. The loader, the validator, the error
 * list and the planners all reach the model through these, so none of them
 * needs another's internals. */
#include <stdlib.h>

#include "schema.h"
#include "util.h"
#include "vmconf.h"

void *vmconf_section(VmConfig *cfg, SectionKind kind, size_t index) {
    switch (kind) {
    case SECTION_VM: return &cfg->vm;
    case SECTION_CPU: return &cfg->cpu;
    case SECTION_MEMORY: return &cfg->memory;
    case SECTION_BALLOON: return &cfg->balloon;
    case SECTION_HOST: return &cfg->host;
    case SECTION_DISK: return &cfg->disks[index];
    case SECTION_NET: return &cfg->nets[index];
    case SECTION_HOSTNIC: return &cfg->hostnics[index];
    case SECTION_SHARE: return &cfg->shares[index];
    case SECTION_HOSTDEV: return &cfg->hostdevs[index];
    case SECTION_CLOUDINIT: return &cfg->cloudinit;
    case SECTION_TPM: return &cfg->tpm;
    default: return NULL;
    }
}

size_t vmconf_section_count(const VmConfig *cfg, SectionKind kind) {
    switch (kind) {
    case SECTION_DISK: return cfg->n_disks;
    case SECTION_NET: return cfg->n_nets;
    case SECTION_HOSTNIC: return cfg->n_hostnics;
    case SECTION_SHARE: return cfg->n_shares;
    case SECTION_HOSTDEV: return cfg->n_hostdevs;
    default: return 1;
    }
}

const char *section_kind_name(SectionKind kind) { return schema_sections[kind].name; }

char *section_label(SectionKind kind, const SectionHead *head) {
    if (schema_sections[kind].named) return xasprintf("[%s \"%s\"]", section_kind_name(kind), head->id ? head->id : "");
    return xasprintf("[%s]", section_kind_name(kind));
}

int section_key_line(SectionKind kind, const SectionHead *head, const char *key) {
    int index;
    if (!schema_key_find(kind, key, &index)) abort();
    return head->key_line[index] ? head->key_line[index] : head->line;
}

bool section_key_set(SectionKind kind, const SectionHead *head, const char *key) {
    int index;
    if (!schema_key_find(kind, key, &index)) abort();
    return head->key_line[index] != 0;
}
