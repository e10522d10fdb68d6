#include <stdio.h>
int main(void)
{
	puts("test_wait: not written yet");
	return 1;
}
