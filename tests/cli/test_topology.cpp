// End to end with the ABI 1.1 fixture (three devices, links of known cost): the run writes a topology
// whose fits are the fixture's model, `show` prints the link matrix, `query --link` and `--collective`
// predict from the fits, `plot --topology` draws them, records of devices 1 and 2 keep their device.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "calib/core/topology.hpp"
#include "cli_util.hpp"

using namespace calib::test;
namespace core = calib::core;

namespace {

struct LinksRun {
    Scratch dir;
    fs::path plugins = dir / "plugins";
    fs::path profile = dir / "links.json";
    Result run;
    explicit LinksRun(const std::string& env = "", const std::string& extra = "") {
        fs::create_directories(plugins);
        fs::permissions(plugins, fs::perms::owner_all);
        fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / "fixture_links.so", plugins / "links.so");
        run = host("--plugins " + plugins.string() + " --no-default-plugins --no-history --replicas 1 --no-corunner-check "
                   "--time-budget 0.01 --quiet --output " + profile.string() + " " + extra, env);
    }
};

core::Topology topology_of(const fs::path& p) {
    const auto doc = boost::json::parse(slurp(p));
    return core::read_topology(doc.at("topology"));
}

}  // namespace

TEST_CASE("topology: a three-device run writes every link and collective with the model's alpha and beta", "[topology]") {
    LinksRun r;
    INFO(r.run.err);
    REQUIRE(r.run.exit_code == 0);
    CHECK(host("validate " + r.profile.string()).exit_code == 0);
    const core::Topology t = topology_of(r.profile);
    CHECK(t.devices.size() == 3);
    REQUIRE(t.links.size() == 3 * 4 + 6);  // per device H2D, D2H x pinned, pageable; 6 ordered pairs
    REQUIRE(t.collectives.size() == 4);     // all_reduce, broadcast over 2 and 3 ranks
    const auto* nv = core::find_link(t, "0", "1");
    REQUIRE(nv != nullptr);
    CHECK(nv->kind == "nvlink");
    CHECK(nv->fit.alpha_us == Approx(20).epsilon(0.01));
    CHECK(nv->fit.beta_gbps == Approx(400).epsilon(0.01));
    CHECK(nv->points.size() == 6);
    CHECK(core::find_link(t, "2", "0")->fit.beta_gbps == Approx(25).epsilon(0.01));
    CHECK(core::find_link(t, "host", "2", "pageable")->fit.alpha_us == Approx(15).epsilon(0.01));
    CHECK(core::find_link(t, "1", "host")->fit.beta_gbps == Approx(50).epsilon(0.01));
    const auto* ar = core::find_collective(t, "all_reduce", 3);
    REQUIRE(ar != nullptr);
    CHECK(ar->devices == std::vector<int64_t>{0, 1, 2});
    CHECK(ar->bus_beta_gbps == Approx(150 * 4.0 / 3).epsilon(0.01));
    CHECK(ar->points.back().busbw_gbps.value() == Approx(ar->points.back().gbps * 4.0 / 3));

    // Records of devices 1 and 2 carry their device; none of the transfers is an operation record.
    const auto doc = boost::json::parse(slurp(r.profile));
    int on_device[3] = {0, 0, 0};
    for (const auto& [key, rec] : doc.at("operation_profiles").as_object()) {
        const auto& e = rec.at("extra_params").as_object();
        CHECK(e.at("case").as_string().starts_with("matmul_64_dev"));
        const int64_t d = e.at("device_index").as_int64();
        ++on_device[d];
        CHECK(e.at("device").as_string() == "fixture gpu " + std::to_string(d));
    }
    CHECK(on_device[0] == 1);
    CHECK(on_device[1] == 1);
    CHECK(on_device[2] == 1);

    Result show = host("show " + r.profile.string());
    REQUIRE(show.exit_code == 0);
    CHECK_THAT(show.out, Catch::Contains("P2P link matrix"));
    CHECK_THAT(show.out, Catch::Contains("400.0 / 20.0 / nvlink"));
    CHECK_THAT(show.out, Catch::Contains("25.0 / 25.0 / pcie"));

    // 20 us + 64 MiB / 400 GB/s = 187.77 us; the nearest measured size is 16 MiB or 256 MiB.
    Result q = host("query " + r.profile.string() + " --link 0-1 --bytes 64MiB");
    INFO(q.err);
    REQUIRE(q.exit_code == 0);
    CHECK_THAT(q.out, Catch::Contains("187.77 us predicted"));
    q = host("query " + r.profile.string() + " --link host-0 --memory pageable --bytes 1GiB");
    CHECK_THAT(q.out, Catch::Contains("(+0.0%)"));  // a measured size: the fit is exact there
    // 30 us + 256 MiB / 150 GB/s = 1819.57 us; busbw = algbw * 4/3.
    q = host("query " + r.profile.string() + " --collective all_reduce --ranks 3 --bytes 256MiB");
    REQUIRE(q.exit_code == 0);
    CHECK_THAT(q.out, Catch::Contains("1819.57 us predicted"));
    CHECK_THAT(q.out, Catch::Contains("busbw 196.7 GB/s"));
    CHECK(host("query " + r.profile.string() + " --link 0-7 --bytes 1MiB").exit_code == 2);
    CHECK(host("query " + r.profile.string() + " --collective all_reduce --ranks 5 --bytes 1MiB").exit_code == 2);
    CHECK(host("query " + r.profile.string() + " --link 0-1").exit_code == 2);
    CHECK(host("query " + r.profile.string() + " --link 0-1 --bytes 3parsecs").exit_code == 2);

    const fs::path svg = r.dir / "links.svg";
    REQUIRE(host("plot " + r.profile.string() + " --topology --output " + svg.string()).exit_code == 0);
    const std::string chart = slurp(svg);
    CHECK_THAT(chart, Catch::Contains("P2P 0-&gt;1"));
    CHECK_THAT(chart, Catch::Contains("all_reduce x3 (busbw)"));
}

TEST_CASE("topology: one device has host links only, and --operations transfer selects the transfers", "[topology]") {
    LinksRun one("CALIB_FIXTURE_LINKS_DEVICES=1", "--operations transfer");
    INFO(one.run.err);
    REQUIRE(one.run.exit_code == 0);
    const core::Topology t = topology_of(one.profile);
    CHECK(t.links.size() == 4);
    CHECK(t.collectives.empty());
    const auto doc = boost::json::parse(slurp(one.profile));
    CHECK(doc.at("operation_profiles").as_object().empty());
    CHECK(host("query " + one.profile.string() + " --link 0-1 --bytes 1MiB").exit_code == 2);
}

TEST_CASE("energy: a plugin that reads its device state gets energy, conditions and a sustained window", "[energy]") {
    LinksRun r("", "--filter '^matmul' --energy-window 0");
    INFO(r.run.err);
    REQUIRE(r.run.exit_code == 0);
    CHECK(host("validate " + r.profile.string()).exit_code == 0);
    const auto doc = boost::json::parse(slurp(r.profile));
    // Idle conditions once per device.
    const auto& devices = doc.at("device_conditions").as_array();
    REQUIRE(devices.size() == 3);
    CHECK(devices[2].at("idle_power_watts").to_number<double>() == Approx(100));
    CHECK(devices[2].at("sm_clock_mhz").to_number<double>() == Approx(1500));
    int sustained = 0;
    for (const auto& [key, rec] : doc.at("operation_profiles").as_object()) {
        const auto& e = rec.at("extra_params").as_object();
        INFO(key);
        // The fixture draws 100 W: energy over the window / the window's wall time.
        CHECK(e.at("avg_power_watts").to_number<double>() == Approx(100).epsilon(0.1));
        const double flops = 2.0 * 64 * 64 * 64;
        CHECK(e.at("pj_per_flop").to_number<double>() ==
              Approx(e.at("energy_per_execution_joules").to_number<double>() / flops * 1e12));
        CHECK(e.at("end_sm_clock_mhz").to_number<double>() == 1500);
        CHECK(e.at("throttled").as_bool() == false);
        CHECK(e.at("throttle").as_string() == "");
        if (e.contains("sustained_seconds")) {
            ++sustained;
            // 10 s of executions at the fixture's 10 us each: 64^3 x 2 FLOP / 10 us.
            CHECK(e.at("sustained_seconds").to_number<double>() == Approx(10).epsilon(0.01));
            CHECK(e.at("sustained_gflops").to_number<double>() == Approx(flops / 1e-5 / 1e9));
            // The fixture's "10 s" pass in microseconds of wall time: its power is the ratio of two tiny
            // intervals read in two processes, so only its presence is checked here.
            CHECK(e.at("sustained_power_watts").to_number<double>() > 0);
        }
    }
    CHECK(sustained == 1);
    Result show = host("show " + r.profile.string());
    CHECK_THAT(show.out, Catch::Contains("idle 100.0 W (limit 700 W), SM 1500 MHz"));
    CHECK_THAT(show.out, Catch::Contains("sustained 10.0 s: 52.4 GFLOPS"));
    Result cmp = host("compare " + r.profile.string() + " " + r.profile.string());
    CHECK_THAT(cmp.out, Catch::Contains("energy"));
    CHECK_THAT(cmp.out, Catch::Contains("GFLOP/J"));
    // --quick and --sustained 0 leave the sustained window out.
    LinksRun none("", "--filter '^matmul' --sustained 0");
    REQUIRE(none.run.exit_code == 0);
    CHECK(slurp(none.profile).find("sustained_seconds") == std::string::npos);
    // The default window rule: the fixture's millisecond windows get a note, not a figure.
    const auto d = boost::json::parse(slurp(none.profile));
    for (const auto& [key, rec] : d.at("operation_profiles").as_object()) {
        const auto& e = rec.at("extra_params").as_object();
        CHECK_FALSE(e.contains("avg_power_watts"));
        CHECK_THAT(std::string(e.at("energy_note").as_string()), Catch::Contains("below 1.00 s"));
        CHECK(e.contains("end_sm_clock_mhz"));  // the conditions stay
    }
}
