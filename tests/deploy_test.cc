// The deployment files (deploy/, docs/DEPLOY.md), checked as far as this machine can: they
// parse, every flag they give a program is one its --help lists, and their addresses agree
// with their scheme. (Docker, Kubernetes and systemd themselves are not run here.)
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/scheme_yaml.h"
#include "support/scratch_path.h"

namespace {

const std::string kRoot = TOKEN_SOURCE_DIR;
const std::string kApps = TOKEN_APPS_DIR;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The long flags a program's --help (of `command`, when given) lists.
std::set<std::string> HelpFlags(const std::string& program, const std::string& command = "") {
  const std::string out = token::testing::ScratchPath("deploy-help", ".txt");
  const std::string line =
      fmt::format("'{}/{}' {} --help > '{}' 2>&1", kApps, program, command, out);
  EXPECT_EQ(std::system(line.c_str()), 0) << line;
  const std::string text = Read(out);
  std::remove(out.c_str());
  std::set<std::string> flags;
  const std::regex flag("--[a-z][a-z0-9-]*");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), flag); it != std::sregex_iterator();
       ++it) {
    flags.insert(it->str());
  }
  EXPECT_TRUE(flags.contains("--help")) << text;
  return flags;
}

// The flags ("--name", without "=value") among `words`.
std::vector<std::string> FlagsIn(const std::string& text) {
  std::vector<std::string> flags;
  const std::regex flag("(^|[\\s\"'])(--[a-z][a-z0-9-]*)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), flag); it != std::sregex_iterator();
       ++it) {
    flags.push_back((*it)[2].str());
  }
  return flags;
}

void ExpectKnown(const std::vector<std::string>& used, const std::set<std::string>& known,
                 const std::string& where) {
  EXPECT_FALSE(used.empty()) << where;
  for (const std::string& f : used) EXPECT_TRUE(known.contains(f)) << where << ": " << f;
}

// What the container's shell command runs for pod `pod` (tokenserver replaced by echo).
std::vector<std::string> PodCommand(const YAML::Node& container, const std::string& pod) {
  std::string env = "POD_NAME=" + pod;
  for (const auto& e : container["env"]) {
    if (e["value"])
      env += fmt::format(" {}='{}'", e["name"].as<std::string>(), e["value"].as<std::string>());
  }
  EXPECT_EQ(container["command"][0].as<std::string>(), "sh");
  std::string script = container["command"][2].as<std::string>();
  const auto exec = script.find("exec tokenserver ");
  EXPECT_NE(exec, std::string::npos) << script;
  script.replace(exec, 17, "exec printf '%s\\n' ");
  const std::string out = token::testing::ScratchPath("deploy-pod", ".txt");
  std::ofstream(out + ".sh") << script;
  const std::string line = fmt::format("env {} sh '{}.sh' > '{}'", env, out, out);
  EXPECT_EQ(std::system(line.c_str()), 0) << line;
  std::vector<std::string> args;
  std::istringstream in(Read(out));
  std::remove(out.c_str());
  std::remove((out + ".sh").c_str());
  for (std::string a; std::getline(in, a);) args.push_back(a);
  return args;
}

TEST(Deploy, KubernetesClusterAgreesWithItsScheme) {
  const std::vector<YAML::Node> docs = YAML::LoadAllFromFile(kRoot + "/deploy/k8s/cluster.yaml");
  std::map<std::string, YAML::Node> services;
  YAML::Node cm, sts;
  for (const YAML::Node& d : docs) {
    const std::string kind = d["kind"].as<std::string>();
    if (kind == "Service") services[d["metadata"]["name"].as<std::string>()] = d;
    if (kind == "ConfigMap") cm = d;
    if (kind == "StatefulSet") sts = d;
  }
  ASSERT_TRUE(cm && sts);
  auto scheme = token::ParseSchemeYaml(cm["data"]["scheme.yaml"].as<std::string>(), "configmap");
  ASSERT_TRUE(scheme.ok()) << scheme.status().ToString();

  // The StatefulSet's headless service.
  const std::string name = sts["metadata"]["name"].as<std::string>();
  const std::string headless = sts["spec"]["serviceName"].as<std::string>();
  ASSERT_TRUE(services.contains(headless));
  EXPECT_EQ(services[headless]["spec"]["clusterIP"].as<std::string>(), "None");
  const int replicas = sts["spec"]["replicas"].as<int>();
  const YAML::Node container = sts["spec"]["template"]["spec"]["containers"][0];
  const int port = container["ports"][0]["containerPort"].as<int>();
  const std::set<std::string> known = HelpFlags("tokenserver");

  // Pod i: its Service's address is the node it claims (--node), a node of the scheme; the
  // scheme has no other node.
  std::vector<std::string> nodes;
  for (int i = 0; i < replicas; ++i) {
    const std::string pod = fmt::format("{}-{}", name, i);
    ASSERT_TRUE(services.contains(pod)) << pod;
    const YAML::Node& svc = services[pod];
    EXPECT_EQ(svc["spec"]["selector"]["statefulset.kubernetes.io/pod-name"].as<std::string>(), pod);
    EXPECT_EQ(svc["spec"]["ports"][0]["port"].as<int>(), port);
    const std::string address =
        fmt::format("{}:{}", svc["spec"]["clusterIP"].as<std::string>(), port);
    nodes.push_back(address);
    const std::vector<std::string> args = PodCommand(container, pod);
    std::map<std::string, std::string> flags;
    for (std::size_t k = 0; k < args.size(); ++k) {
      const std::string& a = args[k];
      ASSERT_TRUE(a.starts_with("--")) << a;
      const auto eq = a.find('=');
      const std::string flag = a.substr(0, eq);
      EXPECT_TRUE(known.contains(flag)) << flag;
      flags[flag] = eq == std::string::npos
                        ? (k + 1 < args.size() && !args[k + 1].starts_with("--") ? args[++k] : "")
                        : a.substr(eq + 1);
    }
    EXPECT_EQ(flags["--node"], address) << pod;
    EXPECT_EQ(flags["--listen"], fmt::format("0.0.0.0:{}", port));
    EXPECT_EQ(flags["--tls-cert"], fmt::format("/etc/tokenmgr/tls/{}.crt", pod));
    bool mounted = false;
    for (const auto& m : container["volumeMounts"]) {
      mounted = mounted || m["mountPath"].as<std::string>() == flags["--config"];
    }
    EXPECT_TRUE(mounted) << flags["--config"];
  }
  std::sort(nodes.begin(), nodes.end());
  EXPECT_EQ(scheme->nodes(), nodes);
}

TEST(Deploy, FuzzJobShardsAreItsCompletionIndexes) {
  const YAML::Node job = YAML::LoadFile(kRoot + "/deploy/k8s/fuzz-job.yaml");
  EXPECT_EQ(job["kind"].as<std::string>(), "Job");
  EXPECT_EQ(job["spec"]["completionMode"].as<std::string>(), "Indexed");
  const int completions = job["spec"]["completions"].as<int>();
  const std::string script =
      job["spec"]["template"]["spec"]["containers"][0]["command"][2].as<std::string>();
  EXPECT_NE(script.find(fmt::format("--shard \"$JOB_COMPLETION_INDEX/{}\"", completions)),
            std::string::npos)
      << script;
  std::set<std::string> known = HelpFlags("tokensim", "fuzz");
  for (const std::string& f : HelpFlags("tokensim")) known.insert(f);
  ExpectKnown(FlagsIn(script), known, "fuzz-job.yaml");
  // The script's tokensim command: from "$tokensim" fuzz to its redirection.
  const std::string campaign = Read(kRoot + "/scripts/fuzz_campaign.sh");
  const auto from = campaign.find("\"$tokensim\" fuzz");
  ASSERT_NE(from, std::string::npos);
  ExpectKnown(FlagsIn(campaign.substr(from, campaign.find("'>'", from) - from)), known,
              "fuzz_campaign.sh");
}

// systemd's unit file syntax: [Section] lines and Key=Value lines (comments with #).
std::map<std::string, std::map<std::string, std::string>> ParseUnit(const std::string& text) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string section;
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      EXPECT_EQ(line.back(), ']') << "line " << n;
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find('=');
    EXPECT_NE(eq, std::string::npos) << "line " << n << ": " << line;
    EXPECT_FALSE(section.empty()) << "line " << n;
    if (eq != std::string::npos) sections[section][line.substr(0, eq)] = line.substr(eq + 1);
  }
  return sections;
}

TEST(Deploy, SystemdUnitRunsANodeOfItsScheme) {
  const auto unit = ParseUnit(Read(kRoot + "/deploy/systemd/tokenmgr.service"));
  ASSERT_TRUE(unit.contains("Unit") && unit.contains("Service") && unit.contains("Install"));
  const auto& service = unit.at("Service");
  const std::string exec = service.at("ExecStart");
  ASSERT_EQ(exec.rfind("/usr/local/bin/tokenserver ", 0), 0u) << exec;
  ExpectKnown(FlagsIn(exec), HelpFlags("tokenserver"), "ExecStart");
  EXPECT_EQ(service.at("RestartPreventExitStatus"), "2");  // tokenserver's bad-usage code
  EXPECT_EQ(service.at("EnvironmentFile"), "/etc/default/tokenmgr");
  // The environment file: the scheme is examples/cluster.yaml as DEPLOY.md installs it, and
  // the node is one of its nodes.
  std::map<std::string, std::string> env;
  std::istringstream in(Read(kRoot + "/deploy/systemd/tokenmgr.env"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    ASSERT_NE(eq, std::string::npos) << line;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  for (const char* used : {"TOKENMGR_CONFIG", "TOKENMGR_LISTEN", "TOKENMGR_FLAGS"}) {
    EXPECT_TRUE(env.contains(used)) << used;
    EXPECT_NE(exec.find(used), std::string::npos) << used;
  }
  EXPECT_EQ(env["TOKENMGR_CONFIG"], "/etc/tokenmgr/cluster.yaml");
  auto scheme = token::LoadSchemeFile(kRoot + "/examples/cluster.yaml");
  ASSERT_TRUE(scheme.ok());
  EXPECT_TRUE(scheme->FindNode(env["TOKENMGR_LISTEN"]).has_value()) << env["TOKENMGR_LISTEN"];
  EXPECT_NE(
      Read(kRoot + "/docs/DEPLOY.md").find("examples/cluster.yaml /etc/tokenmgr/cluster.yaml"),
      std::string::npos);
}

TEST(Deploy, DockerfileIsMultiStageBookwormWithTheBinariesOnly) {
  const std::string text = Read(kRoot + "/deploy/Dockerfile");
  std::vector<std::string> from;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("FROM ", 0) == 0) from.push_back(line);
  }
  ASSERT_EQ(from.size(), 2u);
  EXPECT_EQ(from[0], "FROM debian:bookworm AS build");
  EXPECT_EQ(from[1], "FROM debian:bookworm-slim");
  const std::string final_stage = text.substr(text.find(from[1]));
  EXPECT_NE(final_stage.find("COPY --from=build /out/bin/ /usr/local/bin/"), std::string::npos);
  EXPECT_EQ(final_stage.find("COPY . "), std::string::npos);  // no sources in the image
  for (const char* program : {"tokenserver", "tokenclient", "tokencluster", "tokenload", "tokensim",
                              "tokencheck", "histgen"}) {
    EXPECT_NE(text.find(fmt::format("/build/apps/{}", program)), std::string::npos) << program;
  }
}

}  // namespace
