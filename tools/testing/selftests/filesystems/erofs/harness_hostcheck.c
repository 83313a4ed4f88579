// SPDX-License-Identifier: GPL-2.0
/*
 * Host check of the kselftest harness the guest tests are built with: a
 * fixture's teardown must run after a failed ASSERT, as after a pass and
 * after a failed EXPECT, and a teardown EXPECT that holds must not run its
 * handler (its TH_LOG).  The tests unmount, stop their daemon and free
 * what they set up there; with the base tree's harness built with -O2, a
 * teardown was skipped after an ASSERT (the wrapper's fork() result did
 * not survive the longjmp()) and left mounts and a daemon to the next
 * test, and once that was fixed, the teardown's first EXPECT printed its
 * "left behind: " message although nothing was (the ASSERT's trigger).
 *
 * Run without arguments, it runs itself with "cases" (the harness, whose
 * tests fail on purpose) and counts the teardowns from their marks.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kselftest_harness.h"
#include "hostcheck.h"

static int marks = -1;	/* the pipe the teardowns write a byte to */

FIXTURE(td) {
	int set_up;
};

FIXTURE_SETUP(td)
{
	self->set_up = 1;
}

static void mark(const char *c)
{
	if (write(marks, c, 1) != 1)
		_exit(3);
}

FIXTURE_TEARDOWN(td)
{
	EXPECT_NE(0, self->set_up)
		mark("!");
	mark("t");
}

TEST_F(td, passes)
{
	EXPECT_EQ(1, self->set_up);
}

TEST_F(td, fails_an_expect)
{
	EXPECT_EQ(0, self->set_up);
}

TEST_F(td, fails_an_assert)
{
	ASSERT_EQ(0, self->set_up);
	self->set_up = 2;	/* never reached */
}

TEST_F(td, fails_an_assert_after_a_fork)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	int fds[2], out[2], status, teardowns = 0, handlers = 0;
	char buf[16], line[512];
	ssize_t i, r;
	FILE *f;
	pid_t pid;

	if (argc > 2 && !strcmp(argv[1], "cases")) {
		marks = atoi(argv[2]);
		return test_harness_run(1, argv);
	}
	if (pipe(fds) || pipe(out))
		return 2;
	pid = fork();
	if (pid == 0) {
		char fd[16];

		close(fds[0]);
		close(out[0]);
		snprintf(fd, sizeof(fd), "%d", fds[1]);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execl("/proc/self/exe", argv[0], "cases", fd, (char *)NULL);
		_exit(2);
	}
	close(fds[1]);
	close(out[1]);
	/*
	 * Its TAP lines ("not ok 2 ..." on purpose) would read as ours: print
	 * them as comments, until every process of the harness is gone.
	 */
	f = fdopen(out[0], "r");
	while (f && fgets(line, sizeof(line), f))
		printf("#   %s", line);
	if (f)
		fclose(f);
	while ((r = read(fds[0], buf, sizeof(buf))) > 0)
		for (i = 0; i < r; i++) {
			teardowns += buf[i] == 't';
			handlers += buf[i] == '!';
		}
	CHECK(pid == waitpid(pid, &status, 0));
	/* three of the four cases fail: the harness says so */
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	printf("# teardowns: %d of 4, handlers of an EXPECT that held: %d\n",
	       teardowns, handlers);
	CHECK(teardowns == 4);
	CHECK(handlers == 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
