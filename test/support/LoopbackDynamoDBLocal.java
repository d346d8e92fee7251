// Starts DynamoDB Local bound to 127.0.0.1 on a port the kernel picks, and prints
// "listening <port>". DynamoDB Local has no flag for the bind address (its -help lists
// none, and it binds every interface), so this sets the host on the Jetty connector that
// DynamoDBProxyServer builds, before the server starts. The -port argument it is given is
// required by its command-line parser but replaced here by 0 (any free port), so parallel
// test runs never collide. Run in source-file mode (JEP 330): `java -cp ... this.java`.
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDBLocal {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    var field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    for (Connector connector : server.getConnectors()) {
      ((ServerConnector) connector).setHost("127.0.0.1");
      ((ServerConnector) connector).setPort(0);
    }
    proxy.start();
    for (Connector connector : server.getConnectors()) {
      System.out.println("listening " + ((ServerConnector) connector).getLocalPort());
    }
    System.out.flush();
    proxy.join();
  }
}
