// Run-time linking shared by the libraries the plugin opens with dlopen instead of linking them
// (cuBLASLt, NCCL, NVML): binding a symbol to a typed function pointer, opening the first of a list of
// candidate paths that loads and has what the plugin needs, and doing that once per process.
#pragma once

#include <dlfcn.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace calib::cuda::dl {

// Sets `fn` to the symbol `name` of `lib` (nullptr when absent); false, and *missing = name when
// `missing` is given, when the library lacks it.
template <class F>
bool bind(void* lib, const char* name, F& fn, std::string* missing = nullptr) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
    if (fn == nullptr && missing != nullptr) *missing = name;
    return fn != nullptr;
}

// Opens the candidates in order (RTLD_NOW | RTLD_LOCAL: their symbols stay out of the host's
// namespace) and returns a new T for the first one that loads and that `fill(lib, t, refusal)` accepts,
// with t.path set to the candidate; that T and its library live for the process. `fill` binds the
// library's calls into `t`, or returns false and sets `refusal` to the rest of a sentence that starts
// with the path (" lacks f"); the library is then closed and the next one tried. Returns nullptr when
// none is taken, *errors then listing every reason: dlerror() for a library that did not load (the
// path when dlerror says nothing), with "; " before each but the first, and "; " + path + refusal for
// one that `fill` refused.
template <class T, class Fill>
T* open_first(const std::vector<std::string>& candidates, std::string* errors, Fill fill) {
    for (const auto& c : candidates) {
        void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            const char* e = dlerror();
            if (!errors->empty()) *errors += "; ";
            *errors += e != nullptr ? e : c.c_str();
            continue;
        }
        auto t = std::make_unique<T>();
        std::string refusal;
        if (!fill(lib, *t, refusal)) {
            *errors += "; ";
            *errors += c;
            *errors += refusal;
            dlclose(lib);
            continue;
        }
        t->path = c;
        return t.release();
    }
    return nullptr;
}

// Runs Open once per process (concurrent first callers wait for it) and returns what it returned; when
// that is nullptr, *why (unless nullptr) gets the reason Open gave.
template <class T, const T* (*Open)(std::string* why)>
const T* load_once(std::string* why) {
    static std::once_flag once;
    static const T* t = nullptr;
    static std::string reason;
    std::call_once(once, [] { t = Open(&reason); });
    if (t == nullptr && why != nullptr) *why = reason;
    return t;
}

}  // namespace calib::cuda::dl
