#include "calib_onednn/common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <fstream>

namespace calib::onednn {

dnnl::engine& engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

dnnl::stream& stream() {
    static dnnl::stream s(engine());
    return s;
}

dnnl::memory::data_type data_type(const std::string& precision) {
    using dt = dnnl::memory::data_type;
    if (precision == "fp32") return dt::f32;
    if (precision == "bf16") return dt::bf16;
    if (precision == "fp16") return dt::f16;
    if (precision == "int8") return dt::s8;
    sdk::fail(CALIB_UNSUPPORTED, "precision " + precision + " has no oneDNN data type here");
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto pos = line.find(':');
            if (pos != std::string::npos) {
                auto s = line.substr(pos + 1);
                s.erase(0, s.find_first_not_of(' '));
                return s;
            }
        }
    }
    return "cpu";
}

// The dense row-major desc of md's dims, of type `type`.
static dnnl::memory::desc plain_desc(const dnnl::memory::desc& md, dnnl::memory::data_type type) {
    auto dims = md.dims();
    dnnl::memory::dims strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
    return dnnl::memory::desc(dims, type, strides);
}

static dnnl::memory::desc plain_f32_desc(const dnnl::memory::desc& md) {
    return plain_desc(md, dnnl::memory::data_type::f32);
}

static std::size_t element_count(const dnnl::memory::desc& md) {
    std::size_t n = 1;
    for (auto d : md.dims()) n *= static_cast<std::size_t>(d);
    return n;
}

void fill_from(dnnl::memory& mem, const std::vector<float>& values) {
    auto md = mem.get_desc();
    dnnl::memory src(plain_f32_desc(md), engine());
    std::copy(values.begin(), values.end(), static_cast<float*>(src.get_data_handle()));
    dnnl::reorder(src, mem).execute(stream(), src, mem);
    stream().wait();
}

// True when md is dense row-major over its dims (no blocking, padding or offset): element i of the
// plain order sits at index i of the buffer.
static bool plain_dense(const dnnl::memory::desc& md) { return md == plain_desc(md, md.data_type()); }

// The value fill_random stores for element i before conversion to the memory's type.
static inline float random_value(uint64_t base, std::size_t i, float lo, float span, bool integer) {
    uint64_t z = base + i + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const float u = static_cast<float>(z >> 40) * 0x1.0p-24f;  // [0, 1)
    const float x = lo + span * u;
    return integer ? std::round(x) : x;
}

// f32 -> bf16 with round-to-nearest-even, as oneDNN's reorder converts (inputs here are finite).
static inline uint16_t to_bf16_bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

template <typename T>
static inline T saturate(float x) {
    const float lo = static_cast<float>(std::numeric_limits<T>::lowest());
    const float hi = static_cast<float>(std::numeric_limits<T>::max());
    return static_cast<T>(std::min(std::max(x, lo), hi));
}

// Element i of a fill is a hash (splitmix64) of (seed, i): the same values for any thread count,
// and ~10x faster than std::mt19937 over the 16M-element operands of the large cases, whose set-up
// was a visible share of a calibration's wall time. A plain dense memory of f32, bf16 or an integer
// type is written in place (the conversion is the reorder's: round-to-nearest-even for bf16, exact for
// the integer values); any other layout or type goes through an f32 buffer and a reorder.
void fill_random(dnnl::memory& mem, uint32_t seed, float lo, float hi) {
    using dt = dnnl::memory::data_type;
    auto md = mem.get_desc();
    const std::size_t n = element_count(md);
    const dt type = md.data_type();
    const bool integer = type == dt::s8 || type == dt::u8 || type == dt::s32;
    const uint64_t base = static_cast<uint64_t>(seed) << 40;
    const float span = hi - lo;
    void* handle = mem.get_data_handle();
    // s32 in place only where every value is exact in f32 (no saturation to mirror).
    const bool s32_exact = std::fabs(lo) <= 0x1.0p24f && std::fabs(hi) <= 0x1.0p24f;
    const bool in_place_type = type == dt::f32 || type == dt::bf16 || type == dt::s8 || type == dt::u8 ||
                               (type == dt::s32 && s32_exact);
    if (plain_dense(md) && in_place_type) {
        const std::ptrdiff_t count = static_cast<std::ptrdiff_t>(n);
        switch (type) {
            case dt::f32: {
                float* v = static_cast<float*>(handle);
#pragma omp parallel for schedule(static)
                for (std::ptrdiff_t i = 0; i < count; ++i) v[i] = random_value(base, std::size_t(i), lo, span, false);
                break;
            }
            case dt::bf16: {
                uint16_t* v = static_cast<uint16_t*>(handle);
#pragma omp parallel for schedule(static)
                for (std::ptrdiff_t i = 0; i < count; ++i)
                    v[i] = to_bf16_bits(random_value(base, std::size_t(i), lo, span, false));
                break;
            }
            case dt::s8: {
                int8_t* v = static_cast<int8_t*>(handle);
#pragma omp parallel for schedule(static)
                for (std::ptrdiff_t i = 0; i < count; ++i)
                    v[i] = saturate<int8_t>(random_value(base, std::size_t(i), lo, span, true));
                break;
            }
            case dt::u8: {
                uint8_t* v = static_cast<uint8_t*>(handle);
#pragma omp parallel for schedule(static)
                for (std::ptrdiff_t i = 0; i < count; ++i)
                    v[i] = saturate<uint8_t>(random_value(base, std::size_t(i), lo, span, true));
                break;
            }
            default: {  // s32, |values| <= 2^24
                int32_t* v = static_cast<int32_t*>(handle);
#pragma omp parallel for schedule(static)
                for (std::ptrdiff_t i = 0; i < count; ++i)
                    v[i] = static_cast<int32_t>(random_value(base, std::size_t(i), lo, span, true));
                break;
            }
        }
        return;
    }
    dnnl::memory src(plain_f32_desc(md), engine());
    float* v = static_cast<float*>(src.get_data_handle());
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) v[i] = random_value(base, i, lo, span, integer);
    dnnl::reorder(src, mem).execute(stream(), src, mem);
    stream().wait();
}

std::vector<float> to_f32(const dnnl::memory& mem) {
    auto md = mem.get_desc();
    dnnl::memory dst(plain_f32_desc(md), engine());
    dnnl::memory src = mem;
    dnnl::reorder(src, dst).execute(stream(), src, dst);
    stream().wait();
    const float* p = static_cast<const float*>(dst.get_data_handle());
    return std::vector<float>(p, p + element_count(md));
}

std::vector<float> to_f32(const dnnl::memory& mem, const dnnl::memory::dims& dims,
                          const dnnl::memory::dims& offsets) {
    auto region = mem.get_desc().submemory_desc(dims, offsets);
    dnnl::memory src(region, engine(), mem.get_data_handle());
    auto plain = plain_f32_desc(region);
    std::vector<float> out(element_count(region));
    dnnl::memory dst(plain, engine(), out.data());
    dnnl::reorder(src, dst).execute(stream(), src, dst);
    stream().wait();
    return out;
}

template <typename T, typename Abs>
static double max_abs_of(const void* p, std::size_t n, Abs abs_of) {
    const T* v = static_cast<const T*>(p);
    const std::ptrdiff_t count = static_cast<std::ptrdiff_t>(n);
    double m = 0;
#pragma omp parallel for schedule(static) reduction(max : m)
    for (std::ptrdiff_t i = 0; i < count; ++i) m = std::max(m, abs_of(v[i]));
    return m;
}

double max_abs(const dnnl::memory& mem) {
    using dt = dnnl::memory::data_type;
    auto md = mem.get_desc();
    const void* p = mem.get_data_handle();
    const std::size_t n = element_count(md);
    if (plain_dense(md)) {
        // The same result as max_abs(to_f32(mem)): every value converts to f32 exactly and |x| of a
        // float is exact in double; NaN is skipped by std::max there and here.
        switch (md.data_type()) {
            case dt::f32: return max_abs_of<float>(p, n, [](float x) { return static_cast<double>(std::fabs(x)); });
            case dt::bf16:
                return max_abs_of<uint16_t>(p, n, [](uint16_t b) {
                    const uint32_t u = static_cast<uint32_t>(b) << 16;
                    float x;
                    std::memcpy(&x, &u, sizeof x);
                    return static_cast<double>(std::fabs(x));
                });
            case dt::s8: return max_abs_of<int8_t>(p, n, [](int8_t x) { return std::fabs(static_cast<double>(x)); });
            case dt::u8: return max_abs_of<uint8_t>(p, n, [](uint8_t x) { return static_cast<double>(x); });
            case dt::s32:
                // As to_f32 sees them: converted to f32 first (rounded above 2^24).
                return max_abs_of<int32_t>(p, n, [](int32_t x) { return std::fabs(static_cast<double>(static_cast<float>(x))); });
            default: break;
        }
    }
    return max_abs(to_f32(mem));
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
        if (!(d <= m)) m = d;  // NaN propagates as the maximum
    }
    return m;
}

double max_abs(const std::vector<float>& a) {
    double m = 0;
    for (float x : a) m = std::max(m, static_cast<double>(std::fabs(x)));
    return m;
}

std::string impl_name(const dnnl::primitive_desc_base& pd) {
    const char* s = pd.impl_info_str();
    return s != nullptr ? s : "unknown";
}

bool is_reference_impl(const std::string& impl) {
    return impl.find("ref") != std::string::npos;
}

std::string library_version() {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

void ChainInstance::describe() {
    params.emplace_back("library", library_version());
    implementation.clear();
    reference_fallback = false;
    for (const auto& s : steps) {
        if (!implementation.empty()) implementation += "+";
        implementation += s.impl;
        if (is_reference_impl(s.impl)) reference_fallback = true;
        params.emplace_back("impl." + s.name, s.impl);
    }
}

void ChainInstance::execute_once() {
    for (auto& s : steps) s.primitive.execute(stream(), s.args);
    stream().wait();
}

double ChainInstance::run(uint64_t iterations) {
    auto& st = stream();
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < iterations; ++i)
        for (auto& s : steps) s.primitive.execute(st, s.args);
    st.wait();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace calib::onednn
