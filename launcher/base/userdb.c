/* The user and group database (include/userdb.h): NSS in the dynamic
 * build, /etc/passwd and /etc/group alone in the static one. */
#include "userdb.h"

#include <stdio.h>
#include <string.h>

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"

static bool files_only(void) { return userdb_files_only && userdb_files_only(); }

/* fgetpwent/fgetgrent parse the file themselves, without NSS; their
 * result lives in glibc's static storage and outlives fclose. */
static struct passwd *passwd_find(const char *name, uid_t uid) {
    FILE *f = fopen(PASSWD_FILE, "re");
    if (!f) return NULL;
    struct passwd *pw;
    while ((pw = fgetpwent(f)))
        if (name ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid) break;
    fclose(f);
    return pw;
}

struct passwd *userdb_getpwnam(const char *name) { return files_only() ? passwd_find(name, 0) : getpwnam(name); }

struct passwd *userdb_getpwuid(uid_t uid) { return files_only() ? passwd_find(NULL, uid) : getpwuid(uid); }

struct group *userdb_getgrgid(gid_t gid) {
    if (!files_only()) return getgrgid(gid);
    FILE *f = fopen(GROUP_FILE, "re");
    if (!f) return NULL;
    struct group *gr;
    while ((gr = fgetgrent(f)) && gr->gr_gid != gid) {}
    fclose(f);
    return gr;
}

static bool has_member(char **members, const char *user) {
    for (; members && *members; members++)
        if (strcmp(*members, user) == 0) return true;
    return false;
}

int userdb_getgrouplist(const char *user, gid_t gid, gid_t *groups, int *ngroups) {
    if (!files_only()) return getgrouplist(user, gid, groups, ngroups);
    int n = 0, room = *ngroups;
    if (n < room) groups[n] = gid;
    n++;
    FILE *f = fopen(GROUP_FILE, "re");
    if (f) {
        struct group *gr;
        while ((gr = fgetgrent(f))) {
            if (gr->gr_gid == gid || !has_member(gr->gr_mem, user)) continue;
            bool seen = false;
            for (int i = 0; i < n && i < room; i++) seen |= groups[i] == gr->gr_gid;
            if (seen) continue;
            if (n < room) groups[n] = gr->gr_gid;
            n++;
        }
        fclose(f);
    }
    *ngroups = n;
    return n <= room ? n : -1;
}
