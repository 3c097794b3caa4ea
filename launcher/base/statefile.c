/* Host-wide state files (include/statefile.h). */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "util.h"

int statefile_lock(StateFile *sf, const char *name, const char *key) {
    const char *base = runtime_base();
    int rb = runtime_make_base();
    if (rb < 0) return rb;
    /* The lock is on the directory itself (flock needs no write access), so
     * no lock file is left behind when no VM runs. */
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return log_error_errno(-errno, "Failed to open %s: %m", base);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno == EINTR) continue;
        int r = -errno;
        close(fd);
        return log_error_errno(r, "Failed to lock %s: %m", base);
    }
    sf->lock_fd = fd;
    sf->path = xasprintf("%s/%s", base, name);
    sf->key = key;
    return 0;
}

void statefile_unlock(StateFile *sf) {
    if (sf->lock_fd >= 0) close(sf->lock_fd);
    free(sf->path);
    sf->lock_fd = -1;
    sf->path = NULL;
}

json_object *statefile_load(const StateFile *sf) {
    /* A file that cannot be opened now (EMFILE, EIO) still holds what the
     * host must be put back to: only a missing file is a new start. */
    int fd = open(sf->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno != ENOENT) {
        log_error_errno(-errno, "Failed to read %s: %m", sf->path);
        return NULL;
    }
    if (fd < 0) return json_object_new_array();
    json_object *root = json_object_from_fd(fd);
    close(fd);
    json_object *array;
    if (!root || !json_object_object_get_ex(root, sf->key, &array) || !json_object_is_type(array, json_type_array)) {
        log_warning("%s is unreadable; starting a new one", sf->path);
        json_object_put(root);
        return json_object_new_array();
    }
    json_object_get(array);
    json_object_put(root);
    return array;
}

int statefile_save(const StateFile *sf, json_object *array) {
    if (json_object_array_length(array) == 0) {
        if (unlink(sf->path) < 0 && errno != ENOENT) return log_error_errno(-errno, "Failed to remove %s: %m", sf->path);
        return 0;
    }
    json_object *root = json_object_new_object();
    json_object_object_add(root, "version", json_object_new_int(1));
    json_object_object_add(root, sf->key, json_object_get(array));
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    _cleanup_free_ char *tmp = xasprintf("%s.new", sf->path);
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) r = -errno;
    else {
        size_t n = strlen(text);
        errno = 0;
        if (write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1) r = errno ? -errno : -EIO;
        if (close(fd) < 0 && !r) r = -errno;
        if (!r && rename(tmp, sf->path) < 0) r = -errno;
    }
    json_object_put(root);
    if (r < 0) return log_error_errno(r, "Failed to save %s: %m", sf->path);
    return 0;
}
