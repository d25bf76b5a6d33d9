// Diagnostic LD_PRELOAD shim for docs/hosts.md ("NatronRenderer aborts at exit"): widens the
// window between Natron's cache threads signalling "quit done" and the QThread finishing. In
// threads named CacheCleaner or CacheDeleter (the QThreads of Natron's Engine/Cache.h), each
// pthread_mutex_unlock sleeps 20 ms. With it, NatronRenderer 2.5 aborts at exit with
// "QThread: Destroyed while thread is still running" on its own graphs, without Wick:
//   gcc -shared -fPIC -O2 -o /tmp/natron-cache-race.so scripts/hosts/natron-cache-race.c -ldl
//   OFX_PLUGIN_PATH=/opt/natron/plugins LD_PRELOAD=/tmp/natron-cache-race.so \
//     /opt/natron/bin/NatronRenderer -w CheckerWriter 1-1 /opt/natron/test/checker_invert.py
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
static int (*real_unlock)(pthread_mutex_t *);
int pthread_mutex_unlock(pthread_mutex_t *m) {
    if (!real_unlock) real_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
    int r = real_unlock(m);
    char name[32] = {0};
    if (pthread_getname_np(pthread_self(), name, sizeof name) == 0 &&
        (strncmp(name, "CacheCleaner", 12) == 0 || strncmp(name, "CacheDeleter", 12) == 0))
        usleep(20000);
    return r;
}
