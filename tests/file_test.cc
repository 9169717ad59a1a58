#include "core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "support/scratch_path.h"

namespace token {
namespace {

TEST(ReadFile, ReadsTheWholeFile) {
  const std::string path = token::testing::ScratchPath("file_test", ".txt");
  const std::string content(200000, 'x');
  {
    std::ofstream out(path, std::ios::binary);
    out << content << "end";
  }
  auto text = ReadFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, content + "end");
}

TEST(ReadFile, AMissingFileIsNotFoundNamingTheFileAndTheReason) {
  auto text = ReadFile("/nonexistent/scheme.yaml", "scheme file");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(),
            "cannot open scheme file '/nonexistent/scheme.yaml': No such file or directory");
}

TEST(ReadFile, ADirectoryIsAnError) {
  auto text = ReadFile(::testing::TempDir(), "scenario file");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(text.status().message().find("is a directory"), std::string::npos);
}

TEST(UniqueFd, ClosesWhatItOwnsAndNotWhatItReleased) {
  int raw = -1;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    raw = fd.get();
    UniqueFd moved = std::move(fd);
    EXPECT_FALSE(fd.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed

  UniqueFd kept(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int released = kept.release();
  EXPECT_FALSE(kept.valid());
  EXPECT_NE(::fcntl(released, F_GETFD), -1);  // still open
  ::close(released);
}

}  // namespace
}  // namespace token
