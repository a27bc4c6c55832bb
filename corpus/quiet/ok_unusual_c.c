// Unusual C that must parse, terminate and stay quiet: K&R definitions, computed goto, statement
// expressions that return, Duff's device, GCC cleanup attributes, setjmp, many independent flags.
#include <Python.h>
#include <setjmp.h>
extern int work(int);
int kr(a, b) int a; int b; { return a + b; }
int variadic(int n, ...) { return n; }
void computed(int i) {
    static void *labels[] = { &&one, &&two };
    PyGILState_STATE s = PyGILState_Ensure();
    goto *labels[i];
one:
    PyGILState_Release(s);
    return;
two:
    PyGILState_Release(s);
}
int stmt_expr_return(int x) {
    PyGILState_STATE s = PyGILState_Ensure();
    int y = ({ if (x < 0) { PyGILState_Release(s); return -1; } x * 2; });
    PyGILState_Release(s);
    return y;
}
void duff(char *to, char *from, int count) {
    int n = (count + 7) / 8;
    switch (count % 8) {
    case 0: do { *to = *from++;
    case 7: *to = *from++;
    case 6: *to = *from++;
    case 5: *to = *from++;
    case 4: *to = *from++;
    case 3: *to = *from++;
    case 2: *to = *from++;
    case 1: *to = *from++;
            } while (--n > 0);
    }
}
static void release_cleanup(PyGILState_STATE *s) { PyGILState_Release(*s); }
int with_cleanup(int x) {
    __attribute__((cleanup(release_cleanup))) PyGILState_STATE s = PyGILState_Ensure();
    if (x) return work(x);
    return 0;
}
jmp_buf env;
void sj(void) {
    PyGILState_STATE s = PyGILState_Ensure();
    if (setjmp(env)) { PyGILState_Release(s); return; }
    work(1);
    PyGILState_Release(s);
}
void many_flags(int a, int b, int c, int d, int e, int f, int g, int h, int i, int j, int k, int l) {
    PyGILState_STATE s = PyGILState_Ensure();
    if (a) work(1); if (b) work(2); if (c) work(3); if (d) work(4); if (e) work(5); if (f) work(6);
    if (g) work(7); if (h) work(8); if (i) work(9); if (j) work(10); if (k) work(11); if (l) work(12);
    if (a && b) work(1); if (c || d) work(2);
    PyGILState_Release(s);
}
void deep_loops(int n) {
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) for (int k = 0; k < n; k++) {
        PyGILState_STATE s = PyGILState_Ensure();
        if (work(i + j + k)) { PyGILState_Release(s); continue; }
        PyGILState_Release(s);
    }
}
