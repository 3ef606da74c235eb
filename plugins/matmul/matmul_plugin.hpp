// oneDNN matmul plugin: C = A x B with A (M x K) and C (M x N) plain row-major and B (K x N) in the
// layout oneDNN prefers, reordered once in prepare. Precisions fp32, bf16, fp16 and int8 (u8 x s8 -> s32).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "calib_onednn/common.hpp"

namespace calib::matmul {

struct Problem {
    std::string precision;  // "fp32", "bf16", "fp16", "int8"
    int64_t m = 0, k = 0, n = 0;
};

// Element types of A, B and C for a precision (int8: u8 x s8 -> s32).
struct Types {
    dnnl::memory::data_type a, b, c;
};
Types types_for(const std::string& precision);
std::size_t element_size(dnnl::memory::data_type dt);

// Primitive descriptor with B in format_tag::any. Throws sdk::Error(CALIB_UNSUPPORTED) when oneDNN has
// no implementation or only a reference one (never worth timing).
dnnl::matmul::primitive_desc make_primitive_desc(const Problem& p);

// A kernel under test: computes c = a x b, with a and c plain and b in the layout the verifier was given.
using Kernel = std::function<void(dnnl::memory& a, dnnl::memory& b, dnnl::memory& c)>;

struct Verification {
    double max_abs_error = 0;
    double tolerance = 0;
    bool passed = false;
};

// Tolerance for a K-long dot product of inputs bounded by max_a, max_b (int8: exact).
double tolerance_for(const std::string& precision, int64_t k, double max_a, double max_b);

// Runs `kernel` on random non-zero inputs of problem p (B in layout b_desc) and compares every output
// with a double-precision loop over the same converted inputs.
Verification verify(const Problem& p, const dnnl::memory::desc& b_desc, const Kernel& kernel,
                    uint32_t seed = 7);
// Same for the primitive configuration of pd (built for p).
Verification verify(const Problem& p, const dnnl::matmul::primitive_desc& pd, uint32_t seed = 7);

// The problem the verifier uses for a configuration: small enough for an exact reference loop.
Problem verification_problem(const std::string& precision);

std::vector<sdk::CaseSpec> case_list();

class MatmulPlugin : public sdk::Plugin {
public:
    std::string device_name() const override;
    std::vector<sdk::CaseSpec> cases() override { return case_list(); }
    std::unique_ptr<sdk::Instance> prepare(const sdk::CaseSpec& spec) override;
};

}  // namespace calib::matmul
