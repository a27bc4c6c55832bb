// gilcheck-args: -std=c++17 -I../include
// C++ methods and namespaced functions that share a name with a blocking C function (read, write, send,
// wait, poll, connect, sleep) are not that function: only a rule naming them by their qualified name applies.
#include "pybind11_mini.h"
#include <cstddef>

class Buffer {
public:
    std::size_t read(char *out, std::size_t n) { std::size_t k = n < len_ ? n : len_; for (std::size_t i = 0; i < k; i++) out[i] = data_[i]; return k; }
    std::size_t write(const char *in, std::size_t n) { len_ = n < sizeof data_ ? n : sizeof data_; for (std::size_t i = 0; i < len_; i++) data_[i] = in[i]; return len_; }
private:
    char data_[64] = {};
    std::size_t len_ = 0;
};

struct Signal {
    int connect(void (*slot)(int)) { slot_ = slot; return 0; }
    void send(int v) { if (slot_) slot_(v); }
    bool poll() const { return slot_ != nullptr; }
    void wait() {}
    void (*slot_)(int) = nullptr;
};

namespace anim {
inline void sleep(unsigned frames) { (void)frames; }
}

static void on_value(int) {}

void ok_methods_named_like_libc_calls_with_gil() {
    py::gil_scoped_acquire gil;
    Buffer b;
    char tmp[16];
    b.write("hello", 5);
    b.read(tmp, sizeof tmp);
    Signal s;
    s.connect(on_value);
    if (s.poll())
        s.send(3);
    s.wait();
    anim::sleep(2);
}
