// Helpers shared by the oneDNN-based plugins: engine and stream, precision names, random inputs,
// read-back for verification, implementation names, and an Instance that times a chain of primitives.
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/plugin.hpp"

namespace calib::onednn {

dnnl::engine& engine();
dnnl::stream& stream();

// "fp32" -> f32, "bf16" -> bf16, "fp16" -> f16, "int8" -> s8 (weights) ... throws sdk::Error otherwise.
dnnl::memory::data_type data_type(const std::string& precision);
// The CPU's model name from /proc/cpuinfo ("cpu" when unreadable).
std::string cpu_model_name();

// Fill with uniform random values in [lo, hi] (rounded to integers for integer types), deterministic
// for a seed. Works for any layout and data type: values are generated in f32 and converted as a
// reorder would (plain dense f32, bf16 and integer memories are written in place, others reordered).
void fill_random(dnnl::memory& mem, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
// Fill with given f32 values (plain layout of the memory's dims), converted to the memory's type.
void fill_from(dnnl::memory& mem, const std::vector<float>& values);
// Read any memory back as f32 in the plain (row-major) layout of its dims.
std::vector<float> to_f32(const dnnl::memory& mem);
// Read the region `dims` at `offsets` of a memory back as f32 in plain order (a row, a column, one
// entry): for checks that sample a few entries of a large operand without converting all of it.
std::vector<float> to_f32(const dnnl::memory& mem, const dnnl::memory::dims& dims, const dnnl::memory::dims& offsets);
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);
// Largest |x|, to scale tolerances.
double max_abs(const std::vector<float>& a);
// The same as max_abs(to_f32(mem)), without the f32 copy for plain dense f32, bf16 and integer memories.
double max_abs(const dnnl::memory& mem);

// "oneDNN <major>.<minor>.<patch>" of the library actually loaded.
std::string library_version();
// oneDNN's implementation name of a primitive descriptor.
std::string impl_name(const dnnl::primitive_desc_base& pd);
// True for oneDNN's slow reference kernels ("ref:any", "gemm:ref", "ref_int8", ...).
bool is_reference_impl(const std::string& impl);

// One primitive with its arguments.
struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
    std::string name;  // role in the chain, e.g. "matmul", "bias_add"
    std::string impl;
};

// Executes the steps in order, `iterations` times, then waits on the stream; steady-clock timing.
class ChainInstance : public sdk::Instance {
public:
    std::vector<Step> steps;
    // Call once all steps are added: fills implementation ("a+b+c" names, one per step),
    // reference_fallback and per-step params ("impl.<name>").
    void describe();
    void execute_once();
    double run(uint64_t iterations) override;
};

}  // namespace calib::onednn
