// scale_add: a complete calib plugin in C++ with the header-only helper calib/plugin.hpp -- the
// template for a plugin written in C++. It needs the SDK only (calib/plugin.hpp includes calib/plugin.h).
//
// It measures one element-wise fusion pattern, "Scale_Add" (y = alpha * x + b), on the CPU:
//   fused   one loop:  y[i] = alpha * x[i] + b[i]
//   unfused two loops: t[i] = alpha * x[i];  y[i] = t[i] + b[i]
// at three sizes. The host times the two cases of one size alternately and writes the speedup
// (unfused time / fused time) into the profile's fusion_profiles.
//
// What the helper does for you: it builds the C table, fills every host-allocated struct only up to
// the struct_size the host set, and turns every exception into a status and message (calib::sdk::fail
// picks the status), so nothing C++ crosses the ABI. What stays yours: allocation, initialisation and
// verification in prepare(); run() times only the kernel.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "calib/plugin.hpp"

namespace {

using calib::sdk::CaseSpec;

constexpr float kAlpha = 1.5f;
const std::vector<int64_t> kSizes = {1 << 20, 1 << 22, 1 << 24};  // floats per tensor

// One prepared case: its buffers, filled and verified in the constructor.
class ScaleAdd : public calib::sdk::Instance {
public:
    ScaleAdd(std::size_t n, bool fused) : fused_(fused), x_(n), b_(n), t_(fused ? 0 : n), y_(n) {
        for (std::size_t i = 0; i < n; ++i) {
            x_[i] = static_cast<float>(i % 251) * 0.01f - 1.0f;
            b_[i] = static_cast<float>(i % 127) * 0.02f;
        }
        kernel();
        verify();
        implementation = fused ? "scalar loop (fused)" : "scalar loops (unfused)";
        params = {{"alpha", "1.5"}};
    }

    double run(uint64_t iterations) override {
        return calib::sdk::time_loop(iterations, [this] { kernel(); });
    }

private:
    void kernel() {
        const std::size_t n = y_.size();
        if (fused_) {
            for (std::size_t i = 0; i < n; ++i) y_[i] = kAlpha * x_[i] + b_[i];
            return;
        }
        for (std::size_t i = 0; i < n; ++i) t_[i] = kAlpha * x_[i];
        for (std::size_t i = 0; i < n; ++i) y_[i] = t_[i] + b_[i];
    }

    // Against a double-precision reference; a mismatch fails the case, never the run.
    void verify() {
        double worst = 0;
        for (std::size_t i = 0; i < y_.size(); ++i)
            worst = std::fmax(worst, std::fabs(y_[i] - (1.5 * x_[i] + b_[i])));
        max_abs_error = worst;
        tolerance = 1e-5;
        verified = worst <= tolerance;
        if (!verified) calib::sdk::fail(CALIB_VERIFICATION_FAILED, "Scale_Add: error " + std::to_string(worst));
    }

    bool fused_;
    std::vector<float> x_, b_, t_, y_;
};

class ScaleAddPlugin : public calib::sdk::Plugin {
public:
    std::vector<CaseSpec> cases() override {
        std::vector<CaseSpec> out;
        for (int64_t n : kSizes)
            for (bool fused : {true, false}) {
                CaseSpec c;
                const std::string group = "Scale_Add_fp32_" + std::to_string(n);
                c.name = group + (fused ? "_fused" : "_unfused");
                c.family = CALIB_FAMILY_FUSION;
                c.operation_type = "mul";
                c.shape = {n};
                c.flops = 2.0 * static_cast<double>(n);  // a multiply and an add per element, either way
                // fp32 bytes moved: x, b read and y written; unfused also writes and reads t.
                c.bytes = (fused ? 3.0 : 5.0) * static_cast<double>(n) * sizeof(float);
                c.fusion_pattern = "Scale_Add";
                c.fusion_role = fused ? CALIB_ROLE_FUSED : CALIB_ROLE_UNFUSED;
                c.fusion_group = group;
                c.quick = n == kSizes.front();
                c.params = {{"num_elements", std::to_string(n)}, {"operators", "mul,add"}, {"num_operators", "2"}};
                out.push_back(std::move(c));
            }
        return out;
    }

    std::unique_ptr<calib::sdk::Instance> prepare(const CaseSpec& spec) override {
        return std::make_unique<ScaleAdd>(static_cast<std::size_t>(spec.shape.at(0)),
                                          spec.fusion_role == CALIB_ROLE_FUSED);
    }
};

}  // namespace

CALIB_CPP_PLUGIN(ScaleAddPlugin, "org.example.scale_add_cpp", "Scale_Add (C++ example)", "1.0.0",
                 "calib examples", "y = alpha * x + b, fused against two loops, written with calib/plugin.hpp")
